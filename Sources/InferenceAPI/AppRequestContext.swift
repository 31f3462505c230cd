import Foundation
import Hummingbird
import NIOCore

/// What a request carries through middleware to handlers.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address, for anonymous rate limits.
    public let remoteAddress: SocketAddress?
    /// Who is calling, set once by `Authentication`; nil when the request carries no
    /// credentials, or credentials that do not authenticate (then `credentialFailure` says why).
    public var principal: Principal?
    /// Why the credentials the request carries were refused; `RouteAccess` answers 401 with it.
    var credentialFailure: Authenticator.Failure?

    /// The connection the request came on (`untilCallerGoes` watches it).
    let channel: any Channel

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }

    /// `Codable` answers through `JSONEncoder.api` (no `\/` in them).
    public var responseEncoder: JSONEncoder { .api }

    /// The client's address, for rate limits and the login throttle: the peer's, or the one a
    /// trusted proxy forwarded (set by `Authentication`, see `TrustedProxies`).
    var clientAddress: String {
        get { forwardedClient ?? remoteAddress?.ipAddress ?? "unknown" }
        set { forwardedClient = newValue }
    }
    private var forwardedClient: String?

    /// The tenant whose anomaly rows this request reads and writes.
    var tenant: String { principal?.tenant ?? "default" }

    /// The route pattern the router matched (`/anomaly/scores/{asset_id}`), for metrics, logs and
    /// rate limits; `unmatched` when no route matched.
    var routePattern: String {
        guard let path = endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }
}
