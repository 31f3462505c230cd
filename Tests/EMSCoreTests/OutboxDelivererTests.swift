import AnomalyDetection
import EMSCore
import Foundation
import Logging
import Storage
import Synchronization
import Testing

extension EMSCoreIntegration {
    /// The deliverer alone, on the memory stores, against the stand-in: Retry-After, the breaker's
    /// probe, the outbox-size warning, a call past its deadline.
    @Suite("Outbox deliverer", .serialized, .timeLimit(.minutes(5)))
    struct OutboxDelivererTests {
        final class Recorder: DeliveryObserver, Sendable {
            struct Seen {
                var delivered = 0
                var failed = 0
                var parked = 0
                var breaker: [CircuitBreaker.State] = []
                var counts: [OutboxCounts] = []
            }
            let seen = Mutex(Seen())
            func delivered(target: OutboxMessage.Target, duplicate: Bool, latencySeconds: Double) { seen.withLock { $0.delivered += 1 } }
            func failed(target: OutboxMessage.Target) { seen.withLock { $0.failed += 1 } }
            func parked(target: OutboxMessage.Target) { seen.withLock { $0.parked += 1 } }
            func breakerChanged(_ state: CircuitBreaker.State) { seen.withLock { $0.breaker.append(state) } }
            func outboxCounted(_ counts: OutboxCounts) { seen.withLock { $0.counts.append(counts) } }
        }

        /// Log lines, kept for the test to read.
        struct CapturingLogHandler: LogHandler {
            let sink: Lines
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .info
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                sink.lines.withLock { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
            }
        }

        final class Lines: Sendable {
            let lines = Mutex<[String]>([])
            var logger: Logger { Logger(label: "deliverer-test") { _ in CapturingLogHandler(sink: self) } }
            var all: [String] { lines.withLock { $0 } }
        }

        /// Three episodes (9 messages) committed on memory stores.
        static func committed() async throws -> Stores {
            let stores = Stores.memory()
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let pattern = Array("aa.....aa.....aa.....")
            let scores = pattern.enumerated().map { k, c in
                AnomalyScoreRecord(
                    tenantId: "t", assetId: "a", metricName: "cpu", score: c == "a" ? 0.95 : 0.1, isAnomaly: c == "a", threshold: 0.6, method: "mad",
                    modelId: nil, timestamp: t0.addingTimeInterval(Double(k) * 60))
            }
            let samples = scores.map { MetricSample(timestamp: $0.timestamp, metrics: ["cpu": $0.score]) }
            try await stores.anomalies.recordDetection(tenantId: "t", assetId: "a", samples: samples, scores: scores, episodes: EpisodePolicy())
            return stores
        }

        static func settings(_ change: (inout DeliverySettings) -> Void = { _ in }) -> DeliverySettings {
            var settings = DeliverySettings()
            settings.breakerFailures = 3
            settings.breakerCooldown = 0.3
            settings.retry = RetryPolicy(baseDelay: 0.02, maxDelay: 0.2)
            settings.pollInterval = 0.05
            settings.countInterval = 0.05
            change(&settings)
            return settings
        }

        /// Runs `deliverer` while `body` runs.
        static func running(_ deliverer: OutboxDeliverer, _ body: () async throws -> Void) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await deliverer.run() }
                deliverer.open()
                try await body()
                group.cancelAll()
            }
        }

        /// EMS Core answering with a redirect to another host (moved, or a proxy's mistake): the
        /// message, its token and the alert go nowhere else; the messages stay and are retried, and
        /// the reason names the redirect and the setting to fix.
        @Test func testARedirectIsNotFollowedAndSaysWhereItLed() async throws {
            let ems = StandInEMSCore()
            let elsewhere = StandInEMSCore()
            try await ems.start()
            try await elsewhere.start()
            defer { Task { await ems.stop(); await elsewhere.stop() } }
            ems.faults { $0.redirectTo = elsewhere.url }
            let stores = try await Self.committed()
            let lines = Lines()
            let recorder = Recorder()
            let client = EMSCoreClient(endpoint: EMSCoreEndpoint(baseURL: ems.url, token: ems.token))
            let deliverer = OutboxDeliverer(
                outbox: stores.outbox, client: client, settings: Self.settings(), observer: recorder, logger: lines.logger)
            try await Self.running(deliverer) {
                #expect(await EMSTestApp.eventually(20) { recorder.seen.withLock { $0.failed } >= 3 })
                #expect(await EMSTestApp.eventually(10) { lines.all.contains { $0.contains("a redirect to '\(elsewhere.url)/api/") } }, "\(lines.all)")
            }
            #expect(lines.all.contains { $0.contains("set EMS_CORE_URL") })
            #expect(recorder.seen.withLock { $0.delivered } == 0)
            #expect(elsewhere.state.withLock { $0.attempts.isEmpty && $0.accepted.isEmpty && $0.refusedAuth == 0 }, "nothing reached the other host")
            #expect(try await stores.outbox.counts().pending == 9, "every message kept")
            // The health probe and the training fetch say the same.
            do {
                try await client.health()
                Issue.record("a redirected health check passed")
            } catch {
                #expect("\(error)".contains("redirect to '\(elsewhere.url)/health'"), "\(error)")
            }
        }

        @Test func testRetryAfterIsHonouredBeforeAnyFurtherSend() async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            let stores = try await Self.committed()
            let recorder = Recorder()
            ems.faults {
                $0.busyCount = 1
                $0.busyStatus = 429
                $0.busyRetryAfter = 1
            }
            let deliverer = OutboxDeliverer(
                outbox: stores.outbox, client: EMSCoreClient(endpoint: EMSCoreEndpoint(baseURL: ems.url, token: ems.token)),
                settings: Self.settings { $0.concurrency = 1 }, observer: recorder, logger: Logger(label: "test"))
            let started = Date()
            try await Self.running(deliverer) {
                #expect(await EMSTestApp.eventually(60) { ems.accepted.count == 9 })
                // The stand-in counts a message when it answers; the deliverer records it once the
                // answer is read, a moment later (calls run beside each other since issue 24).
                #expect(await EMSTestApp.eventually(10) { recorder.seen.withLock { $0.delivered } == 9 })
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed >= 1, "nothing was sent within Retry-After's second: \(elapsed) s")
            let seen = recorder.seen.withLock { $0 }
            // The one 429; a slow machine may add timeouts, each retried and counted too.
            #expect(seen.failed >= 1 && seen.delivered == 9, "\(seen.failed) failed, \(seen.delivered) delivered")
            #expect(seen.failed > 1 || !seen.breaker.contains(.open), "one busy answer does not open the breaker")
            let attempts = ems.state.withLock { $0.attempts.values.reduce(0, +) }
            #expect(attempts >= 10 && attempts <= 9 + seen.failed)
            #expect(try await stores.outbox.counts().delivered == 9)
        }

        @Test func testAnOutageOpensTheBreakerProbesHealthAndWarnsAboutTheOutbox() async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            let port = ems.port
            await ems.stop()
            defer { Task { await ems.stop() } }
            let stores = try await Self.committed()
            let recorder = Recorder()
            let lines = Lines()
            let deliverer = OutboxDeliverer(
                outbox: stores.outbox, client: EMSCoreClient(endpoint: EMSCoreEndpoint(baseURL: "http://127.0.0.1:\(port)", token: ems.token)),
                settings: Self.settings { $0.outboxWarnSize = 5 }, observer: recorder, logger: lines.logger)
            try await Self.running(deliverer) {
                #expect(await EMSTestApp.eventually(10) { deliverer.breakerState != .closed })
                #expect(await EMSTestApp.eventually(10) { lines.all.contains { $0.contains("EMS Core outbox is growing") } }, "\(lines.all)")
                try await ems.start(port: port)
                #expect(await EMSTestApp.eventually(20) { ems.accepted.count == 9 })
                #expect(deliverer.breakerState == .closed)
            }
            let seen = recorder.seen.withLock { $0 }
            #expect(seen.breaker.contains(.open) && seen.breaker.last == .closed, "\(seen.breaker)")
            #expect(ems.state.withLock { $0.healthChecks } >= 1, "closed by a probe of GET /health")
            #expect(seen.counts.contains { $0.pending == 9 })
            #expect(lines.all.contains { $0.contains("circuit breaker open") } && lines.all.contains { $0.contains("circuit breaker closed") })
            #expect(ems.state.withLock { $0.duplicates } == 0)
        }

        /// A call still under way past its deadline (+1 s) is reported, whatever holds it.
        @Test func testACallPastItsDeadlineIsReported() async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            ems.faults { $0.slowAssetId = "a" }
            let stores = try await Self.committed()
            let deliverer = OutboxDeliverer(
                outbox: stores.outbox, client: EMSCoreClient(endpoint: EMSCoreEndpoint(baseURL: ems.url, token: ems.token, timeout: 30)),
                settings: Self.settings(), observer: nil, logger: Logger(label: "test"))
            try await Self.running(deliverer) {
                #expect(await EMSTestApp.eventually(10) { deliverer.status().inFlight >= 1 })
                #expect(deliverer.status().degraded.isEmpty, "within its deadline: \(deliverer.status().degraded)")
                let later = deliverer.status(now: Date().addingTimeInterval(32))
                #expect(later.overdue >= 1 && later.degraded.contains { $0.contains("run past the 30 s deadline") }, "\(later.degraded)")
            }
        }
    }
}
