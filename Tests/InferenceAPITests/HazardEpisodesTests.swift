import AnomalyDetection
import Artifacts
import ComputeSupport
import Foundation
import Hummingbird
import Logging
import HummingbirdTesting
import ServiceLifecycle
import Storage
import Synchronization
import Testing

@testable import InferenceAPI

/// An episode store that can be switched off: while `down`, every call fails as a database that is
/// down would. It stands in for PostgreSQL in these tests about the queue in front of it (the
/// real stores are exercised by the EMS Core hazard-episode tests and the PostgreSQL outage test).
final class SwitchableEpisodeStore: EpisodeStore, Sendable {
    let inner: any EpisodeStore
    let down = Mutex(false)
    let calls = Mutex(0)
    /// How long each `recordEpisodes` takes (a slow commit), and how many have begun.
    let recordDelay = Mutex(Duration.zero)
    let recordsBegun = Mutex(0)

    init(_ inner: any EpisodeStore, down: Bool) {
        self.inner = inner
        self.down.withLock { $0 = down }
    }

    private func check() throws {
        calls.withLock { $0 += 1 }
        if down.withLock({ $0 }) { throw StoreError(backend: "switchable", message: "connection refused") }
    }

    func episodes(_ query: EpisodeQuery) async throws -> [Episode] {
        try check()
        return try await inner.episodes(query)
    }

    func recordEpisodes(tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy) async throws -> EpisodeBatch {
        try check()
        recordsBegun.withLock { $0 += 1 }
        let delay = recordDelay.withLock { $0 }
        if delay > .zero { try await Task.sleep(for: delay) }
        return try await inner.recordEpisodes(tenantId: tenantId, kind: kind, observations: observations, policy: policy)
    }

    func liveTrackers(kind: String) async throws -> [(tenantId: String, assetId: String)] {
        try check()
        return try await inner.liveTrackers(kind: kind)
    }
}

/// Hazard episodes are bookkeeping off the request path: `/predict` answers without the store,
/// what it queued is recorded once the store answers, and a full queue drops and counts.
@Suite("Hazard episodes off the request path")
struct HazardEpisodesTests {
    static func setUp(store: SwitchableEpisodeStore, settings: HazardEpisodes.Settings) async throws -> (Router<AppRequestContext>, HazardEpisodes, Telemetry) {
        let models = ModelService(
            store: try MLflowStore(root: TestApp.repoRoot.appendingPathComponent("mlruns")), configuredReference: nil, selectMetric: "roc_auc")
        try await models.activate(try await models.startupReference())
        let telemetry = Telemetry()
        var stores = Stores.memory()
        stores.episodes = store
        let hazards = HazardEpisodes(store: store, settings: settings, onDrop: { telemetry.hazardEpisodeReadingsDropped($0) })
        var services = await AppServices(configuration: Configuration(), models: models, stores: stores, telemetry: telemetry)
        services.hazards = hazards
        let router = buildRouter(services: services)
        return (router, hazards, telemetry)
    }

    /// Readings of the served run that Python scored hazardous (>= 0.5) and normal (< 0.2).
    static func readings() throws -> (hot: [[String: Double]], cold: [[String: Double]]) {
        let vector = try TestApp.servedVector()
        let pairs = zip(vector.readings, vector.probabilities)
        return (pairs.filter { $0.1 >= 0.5 }.map(\.0), pairs.filter { $0.1 < 0.2 }.map(\.0))
    }

    static func body(_ module: String, _ readings: [[String: Double]], minute: Int) -> ByteBuffer {
        let rows: [[String: Any]] = readings.enumerated().map { k, reading in
            var row: [String: Any] = reading
            row["module_id"] = module
            row["timestamp"] = ISO8601.format(Date(timeIntervalSince1970: 1_800_000_000 + Double(minute + k) * 60))
            return row
        }
        return ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: ["readings": rows]))
    }

    static func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
    }

    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test func testPredictAnswersWhileTheStoreIsDownAndTheEpisodeIsRecordedOnceItIsBack() async throws {
        let store = SwitchableEpisodeStore(MemoryEpisodeStoreFactory.make(), down: true)
        let (router, hazards, _) = try await Self.setUp(
            store: store, settings: .init(policy: EpisodePolicy(outbox: false), refreshSeconds: 0.2))
        let (hot, _) = try Self.readings()
        try #require(hot.count >= 3)
        let running = Task { try await hazards.run() }
        defer { running.cancel() }
        try await Application(router: router).test(.router) { client in
            for k in 0..<3 {
                let response = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: Self.body("m-1", [hot[k]], minute: k))
                #expect(response.status == .ok, "answered while the store is down")
            }
            let degraded = try await Self.eventually(5) {
                let ready = try await client.execute(uri: "/ready", method: .get)
                let answer = Self.object(ready)
                return ready.status == .ok && answer["status"] as? String == "degraded"
                    && (answer["degraded"] as? [String] ?? []).contains { $0.hasPrefix("hazard_episodes:") }
            }
            #expect(degraded, "/ready says the bookkeeping waits for the store, and stays 200")
            let listed = try await client.execute(uri: "/anomaly/episodes", method: .get)
            #expect(listed.status == .serviceUnavailable, "the episode list needs the store: \(listed.status)")

            store.down.withLock { $0 = false }
            var episodes: [[String: Any]] = []
            let recorded = try await Self.eventually(10) {
                episodes = Self.object(try await client.execute(uri: "/anomaly/episodes?asset_id=m-1", method: .get))["episodes"] as? [[String: Any]] ?? []
                return !episodes.isEmpty
            }
            #expect(recorded, "the readings queued during the outage opened the episode once the store was back")
            #expect(episodes.first?["state"] as? String == "open")
            #expect(episodes.first?["anomalous_samples"] as? Int == 3)
            let ready = Self.object(try await client.execute(uri: "/ready", method: .get))
            #expect(ready["status"] as? String == "ready", "\(ready)")
        }
    }

    /// A graceful shutdown (SIGTERM) that arrives while a batch is being committed lets that
    /// commit finish: the episode its readings open is recorded. Before, the shutdown cancelled the
    /// drain mid-commit ("recording failed" in the log) and the batch in hand was lost.
    @Test func testAGracefulShutdownFinishesTheBatchInHand() async throws {
        let store = SwitchableEpisodeStore(MemoryEpisodeStoreFactory.make(), down: false)
        store.recordDelay.withLock { $0 = .milliseconds(500) }
        let (router, hazards, _) = try await Self.setUp(
            store: store, settings: .init(policy: EpisodePolicy(outbox: false), lingerMilliseconds: 0))
        let (hot, _) = try Self.readings()
        try #require(hot.count >= 3)
        let group = ServiceGroup(configuration: .init(services: [hazards], logger: Logger(label: "hazard-episodes-test")))
        let running = Task { try await group.run() }
        try await Application(router: router).test(.router) { client in
            let response = try await client.execute(
                uri: "/predict", method: .post, headers: TestApp.json, body: Self.body("m-1", Array(hot.prefix(3)), minute: 0))
            #expect(response.status == .ok)
        }
        let begun = await Self.eventually(10) { store.recordsBegun.withLock { $0 } > 0 }
        try #require(begun, "the drain began its commit")
        await group.triggerGracefulShutdown()
        try await running.value
        let episodes = try await store.inner.episodes(EpisodeQuery(tenantId: "default", assetId: "m-1"))
        #expect(episodes.count == 1, "the batch in hand was recorded: \(episodes)")
        #expect(episodes.first?.anomalousSamples == 3)
        #expect(hazards.status.queuedReadings == 0)
    }

    @Test func testAFullQueueDropsReadingsAndCountsThemWithoutFailingAnAnswer() async throws {
        let store = SwitchableEpisodeStore(MemoryEpisodeStoreFactory.make(), down: true)
        // Nothing drains: the queue only fills.
        let (router, _, _) = try await Self.setUp(store: store, settings: .init(policy: EpisodePolicy(outbox: false), queueReadings: 4))
        let (hot, _) = try Self.readings()
        try #require(hot.count >= 2)
        try await Application(router: router).test(.router) { client in
            for k in 0..<3 {
                let response = try await client.execute(
                    uri: "/predict", method: .post, headers: TestApp.json, body: Self.body("m-\(k)", [hot[0], hot[1]], minute: 2 * k))
                #expect(response.status == .ok)
            }
            let ready = Self.object(try await client.execute(uri: "/ready", method: .get))
            let state = ready["hazard_episodes"] as? [String: Any] ?? [:]
            #expect(state["queued_readings"] as? Int == 4, "\(ready)")
            #expect(state["dropped_readings"] as? Int == 2, "\(ready)")
            let metrics = try PrometheusText(String(buffer: try await client.execute(uri: "/metrics", method: .get).body))
            #expect(metrics.value("hazard_episode_readings_dropped_total", [:]) == 2)
        }
        #expect(store.calls.withLock { $0 } == 0, "the request path never called the store")
    }

    /// Another replica opened an episode: this replica learns it from the store and queues the
    /// module's normal readings, which close it.
    @Test func testAModuleLiveInTheStoreIsFollowedByThisReplica() async throws {
        let store = SwitchableEpisodeStore(MemoryEpisodeStoreFactory.make(), down: false)
        let policy = EpisodePolicy(outbox: false)
        let opened = try await store.recordEpisodes(
            tenantId: "default", kind: HazardEpisodes.kind,
            observations: [
                "m-z": (0..<2).map { k in
                    EpisodeObservation(
                        timestamp: Date(timeIntervalSince1970: 1_800_000_000 + Double(k) * 60), score: 0.9, isAnomaly: true, metric: "hazard_probability")
                }
            ], policy: policy)
        try #require(opened.live == ["m-z"])
        let (router, hazards, _) = try await Self.setUp(store: store, settings: .init(policy: policy, refreshSeconds: 0.1))
        let (_, cold) = try Self.readings()
        try #require(cold.count >= 5)
        let running = Task { try await hazards.run() }
        defer { running.cancel() }
        try await Application(router: router).test(.router) { client in
            var closed = false
            for round in 0..<50 where !closed {
                // Normal readings are queued only once the live set holds m-z.
                for k in 0..<5 {
                    _ = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: Self.body("m-z", [cold[k]], minute: 10 + 5 * round + k))
                }
                closed = try await Self.eventually(0.3) {
                    let episodes = Self.object(try await client.execute(uri: "/anomaly/episodes?asset_id=m-z", method: .get))["episodes"] as? [[String: Any]]
                    return episodes?.first?["state"] as? String == "closed"
                }
            }
            #expect(closed, "normal readings on this replica closed the episode another replica opened")
        }
    }
}

/// The memory episode store, on tables of its own.
enum MemoryEpisodeStoreFactory {
    static func make() -> any EpisodeStore { Stores.memory().episodes }
}
