import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// Development mode (no credentials) binds loopback only, by what the name resolves to, and
/// answers only requests that name loopback in `Host` (a DNS-rebinding page names its own site).
@Suite("Development mode exposure", .timeLimit(.minutes(5)))
struct DevelopmentModeExposureTests {
    @Test func testLoopbackIsDecidedByResolutionNotByText() {
        for host in ["127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]"] { #expect(Configuration.isLoopback(host), "\(host)") }
        for host in ["127.0.0.1.nip.io", "0.0.0.0", "10.1.2.3", "::", "no-such-host.invalid"] { #expect(!Configuration.isLoopback(host), "\(host)") }
        var configuration = Configuration()
        configuration.host = "127.0.0.1.nip.io"
        #expect(throws: ConfigurationError.self) { try configuration.checkExposure() }
    }

    @Test func testHostHeaderNamesLoopback() {
        for host in ["localhost", "LOCALHOST:80", "127.0.0.1", "127.255.1.2:8080", "[::1]", "[::1]:9"] {
            #expect(Configuration.isLoopbackHostHeader(host), "\(host)")
        }
        for host in ["127.0.0.1.nip.io", "128.0.0.1", "127.0.0.256", "127.0.0", "localhost.evil", "[::2]", "localhost:80x", "1270.0.0.1", "", ":80"] {
            #expect(!Configuration.isLoopbackHostHeader(host), "\(host)")
        }
    }

    @Test func testOnlyLoopbackHostHeadersAreAnswered() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            for (host, allowed) in [
                ("localhost:\(port)", true), ("127.0.0.1:\(port)", true), ("[::1]:\(port)", true), ("attacker.example:\(port)", false),
                ("127.0.0.1.nip.io:\(port)", false), ("localhost.attacker.example", false),
            ] {
                for request in [
                    "GET /anomaly/models HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n",
                    "POST /models/activate HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{\"run_id\":\"x\"}",
                ] {
                    let connection = try #require(GracefulShutdownTests.Connection(port: port))
                    connection.send(Array(request.utf8))
                    let answer = connection.readResponse()
                    if allowed {
                        #expect(!answer.hasPrefix("HTTP/1.1 421"), "\(host): \(answer.prefix(120))")
                    } else {
                        #expect(answer.hasPrefix("HTTP/1.1 421") && answer.contains("host_not_allowed"), "\(host): \(answer.prefix(200))")
                    }
                }
            }
        }
    }
}
