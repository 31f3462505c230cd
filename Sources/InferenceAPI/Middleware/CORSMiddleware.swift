import Hummingbird

/// CORS for browser dashboards on other origins (`CORS_ORIGINS`). Hummingbird's own
/// `CORSMiddleware` allows one origin or all; dashboards are served from a list of origins, so
/// this echoes the request's `Origin` when it is on the list (with `Vary: Origin`), answers
/// preflights before authentication (browsers send them without credentials), and adds the
/// headers to error answers too, so a browser can read a 401 or a 429.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let origins: Set<String>
    let allowsAny: Bool
    static let allowedHeaders = "Authorization, Content-Type, Idempotency-Key, X-API-Key, X-Request-ID"
    static let exposedHeaders = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Idempotent-Replayed"
    static let allowedMethods = "GET, POST, OPTIONS"

    init(origins: [String]) {
        self.origins = Set(origins)
        self.allowsAny = origins.contains("*")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], allowsAny || origins.contains(origin) else {
            return try await next(request, context)
        }
        var fields = HTTPFields()
        fields[.accessControlAllowOrigin] = allowsAny ? "*" : origin
        if !allowsAny { fields[.vary] = "Origin" }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            fields[.accessControlAllowMethods] = Self.allowedMethods
            fields[.accessControlAllowHeaders] = Self.allowedHeaders
            fields[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: fields)
        }
        fields[.accessControlExposeHeaders] = Self.exposedHeaders
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: fields)
            return response
        } catch var error as APIError {
            error.headers.append(contentsOf: fields)
            throw error
        }
    }
}
