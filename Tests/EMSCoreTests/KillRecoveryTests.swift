import AsyncHTTPClient
import ComputeSupport
import Foundation
import InferenceAPI
import NIOCore
import NIOHTTP1
import Storage
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EMSCoreIntegration {
    /// (c) kill -9 of the real executable with undelivered outbox rows, some of them in flight: after
    /// a restart every change reaches EMS Core, none twice (a repeat gets 409 and counts as delivered).
    @Suite("EMS Core delivery across kill -9", .serialized, .timeLimit(.minutes(5)))
    struct KillRecoveryTests {
        static var executable: URL {
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("inference-api")
        }

        /// The running server: its process, port and logs.
        struct Server {
            let process: Process
            let port: Int
            let logs: Pipe

            static func start(environment: [String: String]) async throws -> Server {
                let process = Process()
                process.executableURL = KillRecoveryTests.executable
                process.arguments = ["serve", "--port", "0", "--mlruns", EMSTestApp.repoRoot.appendingPathComponent("mlruns").path]
                process.environment = environment.merging(["LOG_FORMAT": "json", "PATH": "/usr/bin:/bin", "GRPC_PORT": "0"]) { a, _ in a }
                let logs = Pipe()
                process.standardError = logs
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                let collected = LogText()
                logs.fileHandleForReading.readabilityHandler = { collected.append($0.availableData) }
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline, process.isRunning {
                    let seen = collected.text
                    if let range = seen.range(of: #"listening on http:(\\?/){2}127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
                        let port = Int(seen[range].split(separator: ":").last ?? "")
                    {
                        return Server(process: process, port: port, logs: logs)
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                process.terminate()
                throw TestFailure("the server did not start: \(collected.text.suffix(2000))")
            }

            func kill9() {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                logs.fileHandleForReading.readabilityHandler = nil
            }

            func request(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> (Int, [String: Any]) {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                request.method = method
                if let body {
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: body))
                }
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                let data = try await response.body.collect(upTo: 64 << 20)
                return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any]) ?? [:])
            }

            func outbox(_ state: String) async throws -> [[String: Any]] {
                try await request(.GET, "/ems/outbox?state=\(state)&limit=1000").1["messages"] as? [[String: Any]] ?? []
            }
        }

        final class LogText: @unchecked Sendable {
            private let lock = NSLock()
            private var data = Data()
            func append(_ chunk: Data) { lock.lock(); data.append(chunk); lock.unlock() }
            var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
        }

        @Test(arguments: EMSTestApp.backends)
        func testUndeliveredRowsSurviveKillNineAndArriveOnce(_ backend: EMSTestApp.Backend) async throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build the executable first: \(Self.executable.path)")
            let ems = StandInEMSCore()
            try await ems.start()
            let emsPort = ems.port
            await ems.stop()  // EMS Core is down while the changes are committed
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(backend) { apply in
                var configuration = Configuration()
                apply(&configuration)
                var environment = [
                    "EMS_CORE_URL": "http://127.0.0.1:\(emsPort)", "EMS_CORE_TOKEN": ems.token, "EMS_BREAKER_COOLDOWN_SECONDS": "0.3",
                    "EMS_RETRY_BASE_MILLISECONDS": "50", "EMS_RETRY_MAX_SECONDS": "1", "EMS_POLL_MILLISECONDS": "100",
                    // PostgreSQL keeps the killed process's claims leased (other replicas may hold theirs): a short lease here.
                    "EMS_LEASE_SECONDS": "3", "STORE_TIMEOUT_SECONDS": "60",
                ]
                if let url = configuration.databaseURL { environment["DATABASE_URL"] = url } else { environment["SQLITE_PATH"] = configuration.sqlitePath }

                let first = try await Server.start(environment: environment)
                let series = Series.make(count: 1_200, runs: 8, seed: 17)
                let body: [String: Any] = [
                    "asset_id": "bms-9", "samples": series.samples.map { ["timestamp": ISO8601.format($0.time), "metrics": $0.metrics] },
                ]
                let (status, _) = try await first.request(.POST, "/anomaly/detect", body: try JSONSerialization.data(withJSONObject: body))
                #expect(status == 200)
                let pending = try await first.outbox("pending")
                #expect(pending.count >= 20, "\(backend): \(pending.count) undelivered rows before the kill")
                let keys = Set(pending.compactMap { $0["idempotency_key"] as? String })

                // EMS Core comes back slow: kill -9 while deliveries are in flight.
                ems.faults { $0.postDelay = .milliseconds(300) }
                try await ems.start(port: emsPort)
                let started = await EMSTestApp.eventually(20) { ems.state.withLock { $0.attempts.count } >= 3 }
                #expect(started, "\(backend): deliveries began")
                first.kill9()
                let beforeRestart = ems.state.withLock { $0.attempts.count }
                ems.faults { $0.postDelay = .zero }

                let second = try await Server.start(environment: environment)
                defer { second.process.terminate() }
                let drained = await EMSTestApp.eventually(60) { ((try? await second.outbox("pending"))?.isEmpty) ?? false }
                #expect(drained, "\(backend): the outbox drained after the restart")
                let delivered = Set(try await second.outbox("delivered").compactMap { $0["idempotency_key"] as? String })
                let state = ems.state.withLock { $0 }
                #expect(delivered == keys, "\(backend): every row delivered")
                #expect(Set(state.accepted.keys) == keys && state.accepted.count == keys.count, "\(backend): EMS Core has each change once")
                print("EMS kill -9 (\(backend)): \(keys.count) rows, \(beforeRestart) reached EMS Core before the kill, \(state.duplicates) repeats answered 409 after the restart")
            }
        }
    }
}
