import Hummingbird
import Synchronization

/// The service's routes as (method, path pattern), so an unknown method on a known path answers
/// 405 with `Allow` instead of 404. Filled once after every route is registered.
final class RouteTable: Sendable {
    private let patterns = Mutex<[(method: String, segments: [Substring])]>([])

    func load(_ routes: [(method: String, path: String)]) {
        let parsed = routes.map { route in
            (route.method, route.path.split(separator: "/", omittingEmptySubsequences: true))
        }
        patterns.withLock { $0 = parsed }
    }

    /// Methods routed for `path`, sorted; empty when no route matches the path at all.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return patterns.withLock { patterns in
            Set(patterns.filter { Self.matches($0.segments, segments) }.map(\.method)).sorted()
        }
    }

    private static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        guard pattern.count == segments.count else { return false }
        return zip(pattern, segments).allSatisfy { p, s in
            p == s || p.hasPrefix(":") || (p.hasPrefix("{") && p.hasSuffix("}"))
        }
    }
}
