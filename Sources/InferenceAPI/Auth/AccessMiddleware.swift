import HTTPTypes
import Hummingbird

/// Authenticates, rate limits and authorises every routed request before its handler runs:
/// 401 (with `WWW-Authenticate`) for missing or bad credentials, 403 for a missing scope,
/// 429 (with `Retry-After`) past the caller's allowance. `RateLimit-*` headers ride on every
/// limited answer. Unrouted paths pass through to the 404/405 answers.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let routes: RouteTable
    let policy: AccessPolicy
    let authenticator: Authenticator
    let limiter: RateLimiter
    let telemetry: Telemetry?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let pattern = context.route ?? routes.pattern(method: request.method.rawValue, path: request.uri.path) else {
            return try await next(request, context)
        }
        let access = policy.access(method: request.method.rawValue, pattern: pattern)
        if access == .probe { return try await next(request, context) }

        var context = context
        var failure: Authenticator.Failure?
        do {
            context.principal = try await authenticator.principal(of: request)
        } catch {
            failure = error
        }
        let caller = context.principal.flatMap { $0.kind == .development ? nil : $0.id } ?? Self.addressKey(context)
        let decision = limiter.take(caller: caller, pattern: pattern)
        var limits = HTTPFields()
        limits[.rateLimitLimit] = String(decision.limit)
        limits[.rateLimitRemaining] = String(decision.remaining)
        limits[.rateLimitReset] = String(decision.reset)
        do {
            guard decision.allowed else {
                telemetry?.rateLimited(route: pattern)
                var refusal = APIError(
                    .tooManyRequests, code: "rate_limited",
                    message: "more than \(decision.limit) requests per minute on this route; retry after \(decision.retryAfter) s")
                refusal.headers[.retryAfter] = String(decision.retryAfter)
                throw refusal
            }
            if case .scope(let scope) = access {
                try authorize(context.principal, failure: failure, scope: scope)
            }
            if let principal = context.principal {
                context.logger[metadataKey: "principal"] = .string(principal.id)
            }
            var response = try await next(request, context)
            response.headers.append(contentsOf: limits)
            return response
        } catch var error as APIError {
            error.headers.append(contentsOf: limits)
            throw error
        }
    }

    private func authorize(_ principal: Principal?, failure: Authenticator.Failure?, scope: Scope) throws {
        if let failure {
            let message = switch failure {
            case .malformed(let text), .invalid(let text): text
            }
            throw Self.unauthorized(message, error: "invalid_token")
        }
        guard let principal else {
            throw Self.unauthorized(
                "credentials are required: send 'Authorization: Bearer <token from POST /auth/token>' or 'X-API-Key: <key>'", error: nil)
        }
        guard principal.allows(scope) else {
            throw APIError(.forbidden, code: "forbidden", message: "this route needs the scope '\(scope.rawValue)', which these credentials do not grant")
        }
    }

    static func unauthorized(_ message: String, error: String?) -> APIError {
        var refusal = APIError(.unauthorized, code: "unauthorized", message: message)
        let detail = error.map { ", error=\"\($0)\"" } ?? ""
        refusal.headers.append(HTTPField(name: .wwwAuthenticate, value: "Bearer realm=\"inference-api\"\(detail)"))
        refusal.headers.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"inference-api\""))
        return refusal
    }

    private static func addressKey(_ context: Context) -> String {
        "ip:\(context.remoteAddress?.ipAddress ?? "unknown")"
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}
