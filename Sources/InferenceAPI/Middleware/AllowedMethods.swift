import Hummingbird
import Synchronization

/// The service's routes as (method, path pattern), filled once after every route is registered:
/// an unknown method on a known path answers 405 with `Allow` instead of 404, and middleware that
/// runs before routing (access policy, rate limits, metrics) names requests by their pattern.
final class RouteTable: Sendable {
    private struct Route {
        let method: String
        let pattern: String
        let segments: [Substring]
    }

    private let routes = Mutex<[Route]>([])
    /// Routes without parameters by method, then path: the common case costs one lookup.
    private let literal = Mutex<[String: [String: String]]>([:])

    func load(_ routes: [(method: String, path: String)]) {
        let parsed = routes.map { route in
            // Hummingbird prints captures as `{name}` or `:name`, with or without a leading slash.
            let segments = route.path.split(separator: "/", omittingEmptySubsequences: true).map { segment in
                segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : segment
            }
            return Route(method: route.method, pattern: "/" + segments.joined(separator: "/"), segments: segments)
        }
        self.routes.withLock { $0 = parsed }
        var literal: [String: [String: String]] = [:]
        for route in parsed where !route.segments.contains(where: Self.isParameter) {
            literal[route.method, default: [:]][route.pattern] = route.pattern
        }
        self.literal.withLock { $0 = literal }
    }

    /// Methods routed for `path`, sorted; empty when no route matches the path at all.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            Set(routes.filter { Self.matches($0.segments, segments) }.map(\.method)).sorted()
        }
    }

    /// The pattern (e.g. `/anomaly/scores/{asset_id}`) routed for `method` and `path`, preferring
    /// literal segments over parameters; nil when nothing is routed there.
    func pattern(method: String, path: String) -> String? {
        if let found = literal.withLock({ $0[method]?[path] }) { return found }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            routes.filter { $0.method == method && Self.matches($0.segments, segments) }
                .min { Self.parameterCount($0.segments) < Self.parameterCount($1.segments) }?.pattern
        }
    }

    /// Every (method, pattern) registered.
    var all: [(method: String, pattern: String)] {
        routes.withLock { $0.map { ($0.method, $0.pattern) } }
    }

    private static func isParameter(_ segment: Substring) -> Bool {
        segment.hasPrefix(":") || (segment.hasPrefix("{") && segment.hasSuffix("}"))
    }

    private static func parameterCount(_ segments: [Substring]) -> Int {
        segments.filter(isParameter).count
    }

    private static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        guard pattern.count == segments.count else { return false }
        return zip(pattern, segments).allSatisfy { p, s in p == s || isParameter(p) }
    }
}
