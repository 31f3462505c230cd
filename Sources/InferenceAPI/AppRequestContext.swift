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

    /// `ip:<clientAddress>`, the anonymous caller's rate-limit key. A peer's IPv4 address is
    /// written digit by digit into one string: `SocketAddress.ipAddress` (inet_ntop, then a
    /// C string copied) and an interpolation cost about 0.6 us on every request.
    var addressKey: String {
        guard forwardedClient == nil, case .v4(let peer) = remoteAddress else { return "ip:\(clientAddress)" }
        return Self.addressKey(ipv4: UInt32(bigEndian: peer.address.sin_addr.s_addr))
    }

    /// `ip:a.b.c.d` for the address 0xaabbccdd.
    static func addressKey(ipv4 address: UInt32) -> String {
        String(unsafeUninitializedCapacity: 18) { buffer in
            var at = 0
            func put(_ byte: UInt8) {
                buffer[at] = byte
                at += 1
            }
            for byte in "ip:".utf8 { put(byte) }
            for shift in stride(from: 24, through: 0, by: -8) {
                let octet = UInt8(truncatingIfNeeded: address >> UInt32(shift))
                if shift < 24 { put(UInt8(ascii: ".")) }
                if octet >= 100 { put(UInt8(ascii: "0") + octet / 100) }
                if octet >= 10 { put(UInt8(ascii: "0") + octet / 10 % 10) }
                put(UInt8(ascii: "0") + octet % 10)
            }
            return at
        }
    }

    /// The tenant whose anomaly rows this request reads and writes.
    var tenant: String { principal?.tenant ?? "default" }

    /// The route pattern the router matched (`/anomaly/scores/{asset_id}`), for metrics, logs and
    /// rate limits; `unmatched` when no route matched.
    var routePattern: String {
        guard let path = endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }
}
