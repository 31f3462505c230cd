import Hummingbird
import NIOCore

/// What a request carries through middleware to handlers.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address, for anonymous rate limits.
    public let remoteAddress: SocketAddress?
    /// Who is calling, set by `AccessMiddleware` (nil only on probe routes).
    public var principal: Principal?
    /// The route pattern this request matched (`/anomaly/scores/{asset_id}`), found once by
    /// `MetricsMiddleware` for the middleware after it; nil when unrouted.
    var route: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The tenant whose anomaly rows this request reads and writes.
    var tenant: String { principal?.tenant ?? "default" }
}
