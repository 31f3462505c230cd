import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import InferenceAPI

/// The client address behind a reverse proxy, and one allowance per person.
@Suite("Trusted proxies")
struct TrustedProxiesTests {
    static func proxies(_ text: String) throws -> TrustedProxies {
        try TrustedProxies.parse(text).get()
    }

    @Test func testTheClientIsTheRightMostUntrustedHop() throws {
        let proxies = try Self.proxies("10.0.0.0/8, 127.0.0.1, fd00::/8")
        #expect(proxies.client(peer: "127.0.0.1", forwardedFor: ["203.0.113.7"]) == "203.0.113.7")
        // A client cannot choose its address: what it wrote is left of what the proxy added.
        #expect(proxies.client(peer: "127.0.0.1", forwardedFor: ["1.2.3.4, 203.0.113.7"]) == "203.0.113.7")
        #expect(proxies.client(peer: "10.1.2.3", forwardedFor: ["198.51.100.2, 10.9.9.9"]) == "198.51.100.2", "a chain of trusted proxies")
        #expect(proxies.client(peer: "::ffff:127.0.0.1", forwardedFor: ["2001:db8::1"]) == "2001:db8::1", "IPv4-mapped peers")
        #expect(proxies.client(peer: "fd00::5", forwardedFor: ["192.0.2.1"]) == "192.0.2.1")
        // From an untrusted peer the header means nothing.
        #expect(proxies.client(peer: "192.0.2.9", forwardedFor: ["203.0.113.7"]) == "192.0.2.9")
        #expect(proxies.client(peer: "127.0.0.1", forwardedFor: ["not-an-address"]) == "127.0.0.1")
        #expect(proxies.client(peer: "127.0.0.1", forwardedFor: []) == "127.0.0.1")
    }

    /// The anonymous caller's rate-limit key for an IPv4 peer, written without inet_ntop: what
    /// NIO's own formatting of the same address gives.
    @Test func testAnIPv4PeersKeyIsItsDottedAddress() throws {
        var generator = SystemRandomNumberGenerator()
        let edges: [UInt32] = [0, 0xFFFF_FFFF, 0x7F00_0001, 0x0A00_6409, 0xC0A8_0A63, 0x0909_0909, 0x6464_6464]
        for address in edges + (0..<500).map({ _ in UInt32.random(in: .min ... .max, using: &generator) }) {
            let octets = (0..<4).map { String(UInt8(truncatingIfNeeded: address >> UInt32(24 - 8 * $0))) }
            let peer = try SocketAddress(ipAddress: octets.joined(separator: "."), port: 80)
            #expect(AppRequestContext.addressKey(ipv4: address) == "ip:\(peer.ipAddress ?? "")")
        }
    }

    @Test(arguments: ["10.0.0.0/33", "300.1.1.1", "fd00::/129", "example.com"])
    func testABadEntryStopsStartUp(_ entry: String) {
        let error = #expect(throws: ConfigurationError.self) { try Configuration(environment: ["TRUSTED_PROXIES": entry]) }
        #expect(error?.variable == "TRUSTED_PROXIES")
    }

    /// Behind nginx every login comes from 127.0.0.1: with TRUSTED_PROXIES, one client's failures
    /// lock that client out, not everyone.
    @Test func testALoginFloodBehindAProxyLocksOnlyItsClient() async throws {
        var configuration = try SecuredApp.configuration()
        configuration.trustedProxies = try Self.proxies("127.0.0.1")
        configuration.loginMaxFailures = 3
        let app = try await buildApplication(configuration: configuration)
        @Sendable func login(_ password: String, from client: String, user: String = "someone") -> (HTTPFields, ByteBuffer) {
            (
                [.contentType: "application/json", Authentication.forwardedFor: client],
                ByteBuffer(string: #"{"username":"\#(user)","password":"\#(password)"}"#)
            )
        }
        try await app.test(.live) { client in
            for k in 0..<3 {
                let (headers, body) = login("wrong-\(k)", from: "203.0.113.7", user: "user-\(k)")
                let answer = try await client.execute(uri: "/auth/token", method: .post, headers: headers, body: body)
                #expect(answer.status == .unauthorized)
            }
            let (floodHeaders, floodBody) = login("again", from: "203.0.113.7", user: "user-9")
            #expect(try await client.execute(uri: "/auth/token", method: .post, headers: floodHeaders, body: floodBody).status == .tooManyRequests)
            let (headers, body) = login(SecuredApp.operatorPassword, from: "198.51.100.20", user: SecuredApp.operatorName)
            let answer = try await client.execute(uri: "/auth/token", method: .post, headers: headers, body: body)
            #expect(answer.status == .ok, "another client behind the same proxy still logs in: \(String(buffer: answer.body))")
        }
    }

    /// A bearer token and HTTP Basic of the same user draw on one allowance.
    @Test func testATokenAndBasicOfOneUserShareOneAllowance() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration(["RATE_LIMIT_PER_MINUTE": "3"]))
        try await app.test(.router) { client in
            let token = try await SecuredApp.login(client)
            for _ in 0..<2 {
                #expect(try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.bearer(token)).status == .ok)
            }
            let basic = SecuredApp.basic(SecuredApp.operatorName, SecuredApp.operatorPassword)
            #expect(try await client.execute(uri: "/models/active", method: .get, headers: basic).status == .ok, "the third request of the minute")
            #expect(try await client.execute(uri: "/models/active", method: .get, headers: basic).status == .tooManyRequests, "the fourth, whichever credential")
            #expect(try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.bearer(token)).status == .tooManyRequests)
        }
    }
}
