import ComputeSupport
import EMSCore
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import NIOHTTP1
import Storage
import Testing

extension EMSCoreIntegration {
    /// Training from EMS Core is bounded in time (each page's head and body, and every page
    /// together) and size (each page, and the samples): the stand-in sends a slow body (the head,
    /// then a byte a second), a huge page, pagination without end and more samples than one
    /// training takes. Deadlines here are 1.5-2 s; answers are allowed the deadline + 3 s.
    @Suite("Training from EMS Core, bounded", .serialized, .timeLimit(.minutes(5)))
    struct EMSTrainingBoundsTests {
        typealias Training = EMSTrainingTests
        static let margin: Double = 3

        /// `POST /anomaly/train` from EMS Core over a day: the answer and its seconds.
        static func train(_ client: some TestClientProtocol) async throws -> (TestResponse, Double) {
            var request = Training.parameters()
            request["source"] = "ems_core"
            request["from"] = ISO8601.format(Training.from)
            request["to"] = ISO8601.format(Training.from.addingTimeInterval(400 * 86_400))
            let started = Date()
            let response = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: Training.body(request))
            return (response, Date().timeIntervalSince(started))
        }

        static func error(_ response: TestResponse) -> (code: String?, message: String) {
            let envelope = EMSTestApp.object(response)["error"] as? [String: Any]
            return (envelope?["code"] as? String, envelope?["message"] as? String ?? String(buffer: response.body))
        }

        /// Runs the whole service (SQLite) against a stand-in set up by `setUp`, with `change`
        /// applied to its endpoint.
        static func withApp(
            _ change: @escaping @Sendable (inout EMSCoreEndpoint) -> Void, setUp: (StandInEMSCore) -> Void,
            _ body: @escaping @Sendable (any TestClientProtocol, StandInEMSCore) async throws -> Void
        ) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            setUp(ems)
            try await EMSTestApp.withDatabase(.sqlite) { apply in
                let configuration = EMSTestApp.configuration(ems: ems) { c in
                    apply(&c)
                    if var endpoint = c.emsCore {
                        change(&endpoint)
                        c.emsCore = endpoint
                    }
                }
                let app = try await buildApplication(configuration: configuration)
                try await app.test(.live) { client in try await body(client, ems) }
            }
        }

        @Test func testASlowMetricsBodyIs504WithinTheDeadline() async throws {
            try await Self.withApp({ $0.timeout = 1.5 }, setUp: { ems in ems.faults { $0.metricsSlowBody = true } }) { client, ems in
                let (response, seconds) = try await Self.train(client)
                let error = Self.error(response)
                #expect(response.status == .gatewayTimeout, "\(error)")
                #expect(error.code == "ems_core_timeout" && error.message.contains("EMS_CORE_TIMEOUT_SECONDS"), "\(error.message)")
                #expect(seconds < 1.5 + Self.margin, "answered in \(seconds) s")
                // The connection was closed, not left streaming.
                let closed = await EMSTestApp.eventually(Self.margin) { ems.state.withLock { $0.streamed.contains { $0.closedByClient } } }
                #expect(closed, "the stand-in saw the client close the slow body")
                print("EMS bounds: slow metrics body (a byte a second), EMS_CORE_TIMEOUT_SECONDS=1.5: \(response.status.code) in \(String(format: "%.2f", seconds)) s")
            }
        }

        @Test func testAHugePageIs502AndItsReadStopsAtTheCap() async throws {
            let huge = 60_000_000
            // The default cap, 8 MiB.
            try await Self.withApp({ _ in }, setUp: { ems in ems.faults { $0.metricsHugePageBytes = huge } }) { client, ems in
                let (response, seconds) = try await Self.train(client)
                let error = Self.error(response)
                #expect(response.status == .badGateway, "\(error)")
                #expect(error.code == "ems_core_too_large" && error.message.contains("EMS_CORE_MAX_PAGE_BYTES"), "\(error.message)")
                #expect(seconds < 10, "answered in \(seconds) s")
                let ended = await EMSTestApp.eventually(Self.margin) { !ems.state.withLock { $0.streamed.isEmpty } }
                let streamed = ems.state.withLock { $0.streamed.first }
                #expect(ended && streamed?.closedByClient == true, "the client closed the page")
                // The cap plus what the sockets buffer, far short of the page.
                #expect((streamed?.bytes ?? huge) < 30_000_000, "\(streamed?.bytes ?? -1) of \(huge) bytes sent")
                print("EMS bounds: a 60 MB metrics page, EMS_CORE_MAX_PAGE_BYTES=8 MiB: \(response.status.code) in \(String(format: "%.2f", seconds)) s, \(streamed?.bytes ?? -1) bytes sent before the client closed")
            }
        }

        @Test func testEndlessPaginationStopsAtTheTrainingDeadline() async throws {
            let setUp = { (ems: StandInEMSCore) in
                ems.state.withLock {
                    $0.metrics["gw-2"] = Training.history()
                    $0.metricsPageSize = 100
                    $0.faults.metricsEndlessPages = true
                }
            }
            try await Self.withApp({ $0.trainTimeout = 2 }, setUp: setUp) { client, ems in
                let (response, seconds) = try await Self.train(client)
                let error = Self.error(response)
                #expect(response.status == .gatewayTimeout, "\(error)")
                #expect(error.code == "ems_core_timeout" && error.message.contains("EMS_TRAIN_TIMEOUT_SECONDS"), "\(error.message)")
                #expect(seconds < 2 + Self.margin, "answered in \(seconds) s")
                // Nothing goes on paging after the answer.
                let served = ems.state.withLock { $0.metricsPagesServed }
                try await Task.sleep(for: .seconds(1))
                #expect(ems.state.withLock { $0.metricsPagesServed } <= served + 1, "paging stopped with the answer")
                print("EMS bounds: endless pagination, EMS_TRAIN_TIMEOUT_SECONDS=2: \(response.status.code) in \(String(format: "%.2f", seconds)) s after \(served) pages")
            }
        }

        @Test func testMoreSamplesThanOneTrainingTakesStopAtTheCap() async throws {
            let setUp = { (ems: StandInEMSCore) in
                ems.state.withLock {
                    $0.metrics["gw-2"] = (0..<6_000).map { MetricSample(timestamp: Training.from.addingTimeInterval(Double($0) * 60), metrics: ["cpu": 30, "latency_ms": 20]) }
                    $0.metricsPageSize = 500
                }
            }
            try await Self.withApp({ $0.trainMaxSamples = 5_000 }, setUp: setUp) { client, ems in
                let (response, _) = try await Self.train(client)
                let error = Self.error(response)
                #expect(response.status == .unprocessableContent, "\(error)")
                #expect(error.code == "too_many_samples" && error.message.contains("EMS_TRAIN_MAX_SAMPLES"), "\(error.message)")
                #expect(ems.state.withLock { $0.metricsPagesServed } == 11, "stopped at the page that passed 5,000")
                let assets = EMSTestApp.object(try await client.execute(uri: "/anomaly/assets", method: .get))["assets"] as? [[String: Any]] ?? []
                #expect(assets.isEmpty, "nothing stored: \(assets)")
            }
        }

        /// The real executable reading a 60 MB page (about 800,000 samples): refused at the cap,
        /// its peak RSS far from the page's size. Before the cap, one such page took it from 86 MB
        /// to 943 MB.
        @Test func testAHugePageLeavesTheProcessSmall() async throws {
            try #require(FileManager.default.isExecutableFile(atPath: KillRecoveryTests.executable.path), "build the executable first")
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            ems.faults { $0.metricsHugePageBytes = 60_000_000 }
            try await EMSTestApp.withDatabase(.sqlite) { apply in
                var configuration = Configuration()
                apply(&configuration)
                let server = try await KillRecoveryTests.Server.start(environment: [
                    "EMS_CORE_URL": ems.url, "EMS_CORE_TOKEN": ems.token, "SQLITE_PATH": configuration.sqlitePath,
                ])
                defer { server.process.terminate() }
                let before = Self.peakRSS(server.process.processIdentifier)
                var request = Training.parameters()
                request["source"] = "ems_core"
                request["from"] = ISO8601.format(Training.from)
                request["to"] = ISO8601.format(Training.from.addingTimeInterval(4_000 * 86_400))
                let started = Date()
                let (status, answer) = try await server.request(.POST, "/anomaly/train", body: try JSONSerialization.data(withJSONObject: request))
                let seconds = Date().timeIntervalSince(started)
                let peak = Self.peakRSS(server.process.processIdentifier)
                #expect(status == 502 && (answer["error"] as? [String: Any])?["code"] as? String == "ems_core_too_large", "\(status) \(answer)")
                #expect(peak < 256 << 20, "peak RSS \(peak >> 20) MB")
                print("EMS bounds: a 60 MB metrics page to the real process (debug build): \(status) in \(String(format: "%.2f", seconds)) s, peak RSS \(before >> 20) MB before, \(peak >> 20) MB after")
            }
        }

        /// `VmHWM` of `/proc/<pid>/status`: the peak resident set, in bytes (0 where there is no /proc).
        static func peakRSS(_ pid: Int32) -> Int {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
            else { return 0 }
            return (Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0) * 1024
        }
    }
}
