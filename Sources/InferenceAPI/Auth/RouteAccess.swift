import HTTPTypes
import Hummingbird

/// What a group of routes needs, declared where the routes are mounted:
/// `group.add(middleware: access.requires(.predict))`. Rate limits the caller on the matched
/// route, then answers 401 (with `WWW-Authenticate`) for missing or bad credentials, 403 for a
/// missing scope, 429 (with `Retry-After`) past the caller's allowance. `RateLimit-*` headers
/// ride on every answer of a limited route. Routes mounted without one are probes: no
/// credentials, no rate limit (`OpenAPIDocument`'s `x-access` documents each route, and
/// `RouteAccessTests` checks every routed path against it).
struct RouteAccess: RouterMiddleware {
    typealias Context = AppRequestContext

    enum Requirement: Sendable, Equatable {
        /// No credentials needed, rate limited per client (the login route, the API document).
        case open
        case scope(Scope)
        /// The scope, from a credential that is not limited to one tenant (`Principal.fleetWide`):
        /// the route changes what every tenant is served.
        case fleetWide(Scope)
    }

    let requirement: Requirement
    let limiter: RateLimiter
    let telemetry: Telemetry?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let pattern = context.routePattern
        let caller = context.principal.flatMap { $0.kind == .development ? nil : $0.id } ?? context.addressKey
        let decision = limiter.take(caller: caller, pattern: pattern)
        do {
            guard decision.allowed else {
                telemetry?.rateLimited(route: pattern)
                var refusal = APIError(
                    .tooManyRequests, code: "rate_limited",
                    message: "more than \(decision.limit) requests per minute on this route; retry after \(decision.retryAfter) s")
                refusal.headers[.retryAfter] = String(decision.retryAfter)
                throw refusal
            }
            switch requirement {
            case .open: break
            case .scope(let scope): try Self.authorize(context.principal, failure: context.credentialFailure, scope: scope)
            case .fleetWide(let scope):
                try Self.authorize(context.principal, failure: context.credentialFailure, scope: scope)
                if let principal = context.principal, !principal.fleetWide {
                    throw APIError(
                        .forbidden, code: "tenant_limited",
                        message:
                            "this changes what every tenant is served, and these credentials are limited to tenant '\(principal.tenant)': use the operator's credentials or an API key of every tenant (KEY@*=\(scope.rawValue))"
                    )
                }
            }
            var response = try await next(request, context)
            Self.addLimits(decision, to: &response.headers)
            return response
        } catch {
            guard var answer = APIError.mapping(error) else { throw error }
            Self.addLimits(decision, to: &answer.headers)
            throw answer
        }
    }

    /// The three RateLimit fields, appended one by one onto the answer's headers (an
    /// `HTTPFields` built by subscript and appended whole cost about 1.4 us a request).
    private static func addLimits(_ decision: RateLimiter.Decision, to headers: inout HTTPFields) {
        headers.append(HTTPField(name: .rateLimitLimit, value: String(decision.limit)))
        headers.append(HTTPField(name: .rateLimitRemaining, value: String(decision.remaining)))
        headers.append(HTTPField(name: .rateLimitReset, value: String(decision.reset)))
    }

    private static func authorize(_ principal: Principal?, failure: Authenticator.Failure?, scope: Scope) throws {
        if let failure { throw refusal(failure) }
        guard let principal else {
            throw unauthorized(
                "credentials are required: send 'Authorization: Bearer <token from POST /auth/token>' or 'X-API-Key: <key>'", error: nil)
        }
        guard principal.allows(scope) else {
            throw APIError(.forbidden, code: "forbidden", message: "this route needs the scope '\(scope.rawValue)', which these credentials do not grant")
        }
    }

    /// The answer to credentials that did not authenticate: 401, or 429 past the login throttle.
    static func refusal(_ failure: Authenticator.Failure) -> APIError {
        switch failure {
        case .malformed(let text), .invalid(let text):
            return unauthorized(text, error: "invalid_token")
        case .throttled(let wait):
            var refusal = APIError(
                .tooManyRequests, code: "login_throttled", message: "too many failed password checks for this username or address; retry after \(wait) s")
            refusal.headers[.retryAfter] = String(wait)
            return refusal
        }
    }

    static func unauthorized(_ message: String, error: String?) -> APIError {
        var refusal = APIError(.unauthorized, code: "unauthorized", message: message)
        let detail = error.map { ", error=\"\($0)\"" } ?? ""
        refusal.headers.append(HTTPField(name: .wwwAuthenticate, value: "Bearer realm=\"inference-api\"\(detail)"))
        refusal.headers.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"inference-api\""))
        return refusal
    }
}

/// Makes the `RouteAccess` of each group, all sharing one rate limiter.
struct AccessRules: Sendable {
    let limiter: RateLimiter
    let telemetry: Telemetry?

    func requires(_ scope: Scope) -> RouteAccess { RouteAccess(requirement: .scope(scope), limiter: limiter, telemetry: telemetry) }
    /// `scope`, from a credential of every tenant (see `RouteAccess.Requirement.fleetWide`).
    func requiresFleetWide(_ scope: Scope) -> RouteAccess { RouteAccess(requirement: .fleetWide(scope), limiter: limiter, telemetry: telemetry) }
    var open: RouteAccess { RouteAccess(requirement: .open, limiter: limiter, telemetry: telemetry) }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}
