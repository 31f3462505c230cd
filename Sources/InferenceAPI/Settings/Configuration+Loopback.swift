import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Loopback: what development mode may bind and which `Host` headers it answers.
extension Configuration {
    /// Whether binding `host` listens on loopback only: every address it resolves to is in
    /// 127.0.0.0/8 or is ::1 (a text test let `127.0.0.1.nip.io` pass). A name that does not
    /// resolve is not loopback.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        var all = true
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    let ipv4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                    all = all && ipv4 >> 24 == 127
                case AF_INET6:
                    let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                    }
                    all = all && bytes == [UInt8](repeating: 0, count: 15) + [1]
                default:
                    all = false
                }
            }
            cursor = entry.pointee.ai_next
        }
        return all
    }

    /// Whether a `Host` header names this machine's loopback: `localhost`, `127.x.x.x` or `[::1]`,
    /// with or without a port. Development mode answers no other (a DNS-rebinding page sends its own).
    static func isLoopbackHostHeader(_ value: String) -> Bool {
        // Over the string's own bytes, no allocation: it runs on every request in development
        // mode (through `Substring.UTF8View` indices it cost 0.7 us a request).
        var value = value
        return value.withUTF8 { isLoopbackHost(bytes: $0) }
    }

    private static func isLoopbackHost(bytes all: UnsafeBufferPointer<UInt8>) -> Bool {
        var bytes = all[...]
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")), bytes.first != UInt8(ascii: "[") || bytes[colon - 1] == UInt8(ascii: "]") {
            guard bytes[(colon + 1)...].allSatisfy({ $0 &- UInt8(ascii: "0") <= 9 }) else { return false }
            bytes = bytes[..<colon]
        }
        if bytes.elementsEqual("[::1]".utf8) { return true }
        if bytes.count == 9, zip(bytes, "localhost".utf8).allSatisfy({ $0 | 0x20 == $1 }) { return true }
        var parts = 0, digits = 0, value = 0, first = -1
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, value <= 255 else { return false }
                if first < 0 { first = value }
                parts += 1
                digits = 0
                value = 0
            } else if byte &- UInt8(ascii: "0") <= 9, digits < 3 {
                digits += 1
                value = value * 10 + Int(byte &- UInt8(ascii: "0"))
            } else {
                return false
            }
        }
        return parts == 3 && digits > 0 && value <= 255 && first == 127
    }
}
