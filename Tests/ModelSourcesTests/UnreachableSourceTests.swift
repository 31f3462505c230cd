import Artifacts
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import ModelSources

/// A tracking server that cannot be reached is reported within `MLFLOW_HTTP_REQUEST_TIMEOUT`,
/// retries included, whatever way it fails: a refused connection, or a server that takes the
/// connection and never answers. No MLflow needed: loopback ports of the test's own.
@Suite("Unreachable model sources", .timeLimit(.minutes(2)))
struct UnreachableSourceTests {
    static let timeout = 2

    /// Resolving through `url` fails as unreachable within the request timeout, with a message
    /// holding `expected`.
    static func expectUnreachable(_ url: String, saying expected: [String], label: String) async throws {
        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let source = try await LiveMLflow.source(url: url, cache: cache) {
            $0.requestTimeoutSeconds = timeout
            $0.attempts = 3
        }
        let started = ContinuousClock.now
        var failure: (any Error)?
        do { _ = try await source.resolve("models:/battery-hazard@champion") } catch { failure = error }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("\(label): unreachable after \(String(format: "%.2f", seconds)) s: \(failure.map { "\($0)" } ?? "no error")")
        guard case .unreachable(let message) = failure as? ModelSourceError else {
            Issue.record("not unreachable: \(String(describing: failure))")
            return
        }
        #expect(expected.allSatisfy { message.contains($0) }, "\(message)")
        #expect(seconds < Double(timeout) + 1)
    }

    @Test func testARefusedConnectionIsReportedAtOnce() async throws {
        try await Self.expectUnreachable(
            "http://127.0.0.1:\(try LoopbackListener.freePort())", saying: ["connection refused", "3 attempts"], label: "refused connection")
    }

    @Test func testAServerThatNeverAnswersIsReportedWithinTheRequestTimeout() async throws {
        let silent = try LoopbackListener()
        try await Self.expectUnreachable("http://127.0.0.1:\(silent.port)", saying: ["MLFLOW_HTTP_REQUEST_TIMEOUT"], label: "silent server")
        _ = silent.port  // open until here
    }
}

/// A loopback socket that listens and never accepts: the kernel completes every connection and
/// keeps what is sent, and nothing ever answers.
final class LoopbackListener: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = self.descriptor
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(descriptor, raw, length) == 0 && listen(descriptor, 64) == 0 && getsockname(descriptor, raw, &length) == 0
            }
        }
        guard ok else {
            close(descriptor)
            throw LiveMLflow.Missing()
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    /// A loopback port nothing listens on now (bound, read, released).
    static func freePort() throws -> Int {
        let listener = try LoopbackListener()
        return listener.port
    }
}
