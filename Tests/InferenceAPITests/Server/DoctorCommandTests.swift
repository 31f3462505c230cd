import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// `inference-api doctor`, the real binary: every dependency reached or the reason in words, one
/// line each, and nothing written.
@Suite("doctor")
struct DoctorCommandTests {
    /// The embedded default (the committed `mlruns/`, a SQLite file not there yet): every check
    /// passes, exit 0, and the database file is still not there afterwards.
    @Test func testTheDefaultConfigurationPassesAndWritesNothing() async throws {
        let scratch = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let database = scratch.appendingPathComponent("data/inference.sqlite")
        let outcome = try await CommandRun.run(["doctor", "--port", "0"], environment: ["SQLITE_PATH": database.path])
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        print("doctor, defaults: exit \(outcome.status) after \(String(format: "%.2f", outcome.seconds)) s\n\(outcome.stdout)")
        #expect(outcome.status == 0, "\(outcome.stdout)\(outcome.stderr.suffix(600))")
        #expect(lines.filter { $0.hasPrefix("ok ") }.count == 6)
        #expect(lines.contains { $0.contains("model (") && $0.contains("86057ed3caad4c7183bcf854302171fb") })
        #expect(lines.last == "all 6 checks passed")
        #expect(!FileManager.default.fileExists(atPath: database.path), "doctor creates no database")
        #expect(!FileManager.default.fileExists(atPath: database.deletingLastPathComponent().path), "nor its folder")
    }

    /// A database that refuses and a port already taken: each named with its variable (the
    /// password written ***), the other checks still run, exit 3.
    @Test func testEachUnreachableDependencyIsNamedWithItsCause() async throws {
        let refused = try DedicatedMLflow.freePort()
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(bound == 0)
        #expect(listen(taken, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(taken, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))

        let outcome = try await CommandRun.run(
            ["doctor", "--port", String(port)],
            environment: ["DATABASE_URL": "postgres://app:s3cret@127.0.0.1:\(refused)/db", "STARTUP_TIMEOUT_SECONDS": "5"])
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        print("doctor, database refused and port taken: exit \(outcome.status) after \(String(format: "%.2f", outcome.seconds)) s\n\(outcome.stdout)")
        #expect(outcome.status == 3, "\(outcome.stdout)\(outcome.stderr.suffix(600))")
        let database = lines.first { $0.contains("database (DATABASE_URL)") } ?? ""
        #expect(database.hasPrefix("FAILED") && database.contains("connection refused") && database.contains("***"), "\(database)")
        let listen = lines.first { $0.contains("listen address") } ?? ""
        #expect(listen.hasPrefix("FAILED") && listen.contains("127.0.0.1:\(port)") && listen.contains("in use"), "\(listen)")
        #expect(lines.contains { $0.hasPrefix("ok ") && $0.contains("model (") }, "the other checks still run")
        #expect(lines.last == "2 of 6 checks failed")
        #expect(!outcome.stdout.contains("s3cret") && !outcome.stderr.contains("s3cret"))
        #expect(outcome.seconds < 5 + 10)

        // The gRPC port is checked the same way when gRPC is served.
        let grpc = try await CommandRun.run(["doctor", "--port", "0"], environment: ["GRPC_PORT": String(port)])
        let grpcLine = grpc.stdout.split(separator: "\n").first { $0.contains("gRPC listen address (HOST, GRPC_PORT)") } ?? ""
        #expect(grpc.status == 2 && grpcLine.hasPrefix("FAILED") && grpcLine.contains("127.0.0.1:\(port)") && grpcLine.contains("in use"), "\(grpc.stdout)")
    }
}
