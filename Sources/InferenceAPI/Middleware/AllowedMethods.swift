import Hummingbird
import Synchronization

/// The methods routed for each path, for one answer only: Hummingbird answers a known path with
/// an unrouted method as 404, and the service answers 405 with `Allow` (RFC 9110). Everything
/// else (metrics, logs, rate limits) takes the matched route from the router
/// (`context.endpointPath`); this is the only second look at paths, and exists for that reason.
final class AllowedMethods: Sendable {
    private let routes = Mutex<[(method: String, segments: [Substring])]>([])

    /// Reads the router's routes; call once every route is registered.
    func load<Context>(from router: Router<Context>) {
        let parsed = router.routes.map { route in
            (method: route.method.rawValue, segments: route.path.description.split(separator: "/", omittingEmptySubsequences: true))
        }
        routes.withLock { $0 = parsed }
    }

    /// Methods routed for `path`, sorted, with `HEAD` wherever `GET` is (`HeadMiddleware`); empty
    /// when no route matches the path at all.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods = routes.withLock { routes in Set(routes.filter { Self.matches($0.segments, segments) }.map(\.method)) }
        if methods.contains("GET") { methods.insert("HEAD") }
        return methods.sorted()
    }

    private static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        guard pattern.count == segments.count else { return false }
        return zip(pattern, segments).allSatisfy { p, s in p == s || (p.hasPrefix("{") && p.hasSuffix("}")) }
    }
}
