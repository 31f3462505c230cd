import Hummingbird

/// CORS for browser dashboards on other origins (`CORS_ORIGINS`). Hummingbird's own
/// `CORSMiddleware` allows one origin or all; dashboards are served from a list of origins, so
/// this echoes the request's `Origin` when it is on the list (with `Vary: Origin`), answers
/// preflights before authentication (browsers send them without credentials), and adds the
/// headers to every error answer too, so a browser can read a 401, a 404 or a 429
/// (`EdgeMiddleware` applies the decision).
struct CORSPolicy: Sendable {
    let origins: Set<String>
    let allowsAny: Bool
    static let allowedHeaders = "Authorization, Content-Type, Idempotency-Key, X-API-Key, X-Request-ID"
    static let exposedHeaders = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Idempotent-Replayed"
    static let allowedMethods = "GET, POST, OPTIONS"

    init(origins: [String]) {
        self.origins = Set(origins)
        self.allowsAny = origins.contains("*")
    }

    enum Decision {
        /// No allowed `Origin`: nothing to add.
        case none
        /// A preflight from an allowed origin, answered before authentication.
        case preflight(Response)
        /// A request from an allowed origin: these headers go on its answer, error or not.
        case headers(HTTPFields)
    }

    func decide(_ request: Request) -> Decision {
        guard let origin = request.headers[.origin], allowsAny || origins.contains(origin) else { return .none }
        var fields = HTTPFields()
        fields[.accessControlAllowOrigin] = allowsAny ? "*" : origin
        if !allowsAny { fields[.vary] = "Origin" }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            fields[.accessControlAllowMethods] = Self.allowedMethods
            fields[.accessControlAllowHeaders] = Self.allowedHeaders
            fields[.accessControlMaxAge] = "600"
            return .preflight(Response(status: .noContent, headers: fields))
        }
        fields[.accessControlExposeHeaders] = Self.exposedHeaders
        return .headers(fields)
    }
}
