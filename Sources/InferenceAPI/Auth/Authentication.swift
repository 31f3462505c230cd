import HTTPTypes
import Hummingbird

/// Reads the request's credentials once, for every route (`EdgeMiddleware`): sets
/// `context.principal` (or `context.credentialFailure`) and names the principal on the request's
/// log lines. It refuses nothing itself: each route group's `RouteAccess` decides what its routes
/// need.
struct Authentication: Sendable {
    let authenticator: Authenticator
    var proxies = TrustedProxies(networks: [])

    func identify(_ request: Request, context: inout AppRequestContext) async {
        if !proxies.isEmpty {
            context.clientAddress = proxies.client(peer: context.clientAddress, forwardedFor: request.headers[values: Self.forwardedFor])
        }
        do {
            context.principal = try await authenticator.principal(of: request, address: context.clientAddress)
        } catch {
            context.credentialFailure = error
        }
        // Development mode's one principal is named once, at start-up, not on every line.
        if let principal = context.principal, principal.kind != .development {
            context.logger[metadataKey: "principal"] = .string(principal.id)
        }
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}
