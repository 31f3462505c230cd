import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// Broken HTTP framing is the client's mistake: 400 in the envelope, never 500.
@Suite("Malformed requests")
struct MalformedRequestTests {
    static let head = "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"

    @Test(arguments: [
        ("chunk size not hex", "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("negative chunk size", "Transfer-Encoding: chunked\r\n\r\n-2\r\nabc\r\n0\r\n\r\n"),
        ("chunk size past 64 bits", "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"),
        ("unknown transfer coding", "Transfer-Encoding: xchunked\r\n\r\n{}"),
    ])
    func testBrokenChunkedBodiesAre400(_ name: String, _ rest: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let connection = try #require(GracefulShutdownTests.Connection(port: port))
            connection.send(Array((Self.head + rest).utf8))
            let answer = connection.readResponse()
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(name): \(answer.prefix(300))")
            #expect(answer.contains("\"malformed_request\""), "\(name): \(answer.suffix(300))")
        }
    }
}
