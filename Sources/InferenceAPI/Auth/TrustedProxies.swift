import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `TRUSTED_PROXIES`: the reverse proxies (nginx, a load balancer) whose `X-Forwarded-For` names
/// the real client. Behind one, every request arrives from the proxy's address, so rate limits
/// and the login throttle keyed by address would treat all clients as one (one client's login
/// flood locking everyone out). From a trusted peer, the client is the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy (what nginx's real_ip module does); from
/// any other peer the header is ignored, so a client cannot choose its own address.
/// Hand-written: address prefixes are a few lines with inet_pton, and no package here parses them.
struct TrustedProxies: Sendable {
    struct Network: Sendable, Equatable {
        let address: [UInt8]
        let prefix: Int

        func contains(_ other: [UInt8]) -> Bool {
            guard other.count == address.count else { return false }
            var bits = prefix
            for k in address.indices where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if address[k] & mask != other[k] & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    let networks: [Network]

    var isEmpty: Bool { networks.isEmpty }

    /// Parses `10.0.0.0/8, 127.0.0.1, fd00::/8`; nil with the bad entry otherwise.
    static func parse(_ text: String) -> Result<TrustedProxies, InvalidEntry> {
        var networks: [Network] = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1)
            guard let address = bytes(of: String(parts[0])) else { return .failure(InvalidEntry("'\(entry)' is not an IP address or CIDR block")) }
            let bits = address.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : bits
            guard let prefix, (0...bits).contains(prefix) else { return .failure(InvalidEntry("'\(entry)' has a prefix outside 0...\(bits)")) }
            networks.append(Network(address: address, prefix: prefix))
        }
        return .success(TrustedProxies(networks: networks))
    }

    /// An address's bytes (4 for IPv4, 16 for IPv6; an IPv4-mapped IPv6 address as IPv4).
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &v6) { Array($0) }
        if raw[0..<10].allSatisfy({ $0 == 0 }) && raw[10] == 0xFF && raw[11] == 0xFF { return Array(raw[12...]) }
        return raw
    }

    func trusts(_ address: String) -> Bool {
        guard let raw = Self.bytes(of: address) else { return false }
        return networks.contains { $0.contains(raw) }
    }

    /// The client's address: `peer` itself, or (from a trusted proxy) the right-most untrusted
    /// entry of the `X-Forwarded-For` values.
    func client(peer: String, forwardedFor values: [String]) -> String {
        guard trusts(peer) else { return peer }
        let hops = values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard Self.bytes(of: hop) != nil else { return peer }  // garbage: trust nothing further left
            if !trusts(hop) { return hop }
        }
        return hops.first ?? peer
    }
}
