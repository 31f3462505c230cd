import Foundation
import Storage
import Synchronization
import Testing

/// The fleet's state, heartbeats and failed-login counts behave alike on every back end; on
/// PostgreSQL a publish is heard by a listener (the channel replicas follow each other on).
@Suite("Fleet store contract")
struct FleetStoreContractTests {
    @Test(arguments: TestDatabases.Backend.allCases)
    func seedPublishAndVersion(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let fleet = stores.fleet
            #expect(fleet.isShared == (backend == .postgres))
            #expect(try await fleet.state() == nil, "\(backend): nothing recorded yet")
            let seeded = try await fleet.seed(reference: "run-a", runId: "a", by: "r1", reason: "start-up")
            #expect(seeded.version == 1 && seeded.runId == "a")
            let again = try await fleet.seed(reference: "run-b", runId: "b", by: "r2", reason: "start-up")
            #expect(again.runId == "a" && again.version == 1, "\(backend): a second seed keeps what is recorded")
            let published = try await fleet.publish(reference: "models:/m@champion", runId: "b", by: "r2", reason: "activate")
            #expect(published.version == 2 && published.reference == "models:/m@champion" && published.updatedBy == "r2")
            #expect(try await fleet.state() == published, "\(backend): the state reads back")
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func heartbeatsUpsertAndAge(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let started = Date(timeIntervalSince1970: 1_795_000_000)
            var beat = ReplicaRecord(replicaId: "r1", host: "h1", fleetVersion: 1, runId: "a", ready: true, divergedReason: nil, startedAt: started)
            try await stores.fleet.beat(beat)
            beat.fleetVersion = 2
            beat.ready = false
            beat.divergedReason = "cannot load run b"
            try await stores.fleet.beat(beat)
            try await stores.fleet.beat(ReplicaRecord(replicaId: "r2", host: "h2", fleetVersion: 2, runId: "b", ready: true, divergedReason: nil, startedAt: started))
            let listed = try await stores.fleet.replicas(seenWithin: 60)
            #expect(listed.map(\.replicaId) == ["r1", "r2"], "\(backend): one row per replica")
            #expect(listed.first?.fleetVersion == 2 && listed.first?.ready == false && listed.first?.divergedReason == "cannot load run b")
            #expect(listed.allSatisfy { $0.lastSeen != nil && abs($0.startedAt.timeIntervalSince(started)) < 0.001 })
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func loginFailuresCountPerKeyWithinTheWindow(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let store = stores.loginFailures
            // A wide window to count in (a loaded machine's fsyncs can take seconds), then the same
            // rows asked for with a window they have all left.
            for _ in 0..<3 { try await store.recordFailure(keys: ["user:x", "ip:1"], windowSeconds: 3600) }
            try await store.recordFailure(keys: ["user:y", "ip:1"], windowSeconds: 3600)
            let counts = try await store.failures(keys: ["user:x", "ip:1", "user:z"], windowSeconds: 3600)
            #expect(counts["user:x"]?.count == 3, "\(backend): \(counts)")
            #expect(counts["ip:1"]?.count == 4 && counts["user:z"] == nil, "\(backend): \(counts)")
            #expect((counts["ip:1"]?.newestAgeSeconds ?? 3600) < 60)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await store.failures(keys: ["user:x", "ip:1"], windowSeconds: 1).isEmpty, "\(backend): the window passed")
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func experimentsStartEndOnceAndKeepCountersPerVersion(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let fleet = stores.fleet
            #expect(try await fleet.experiment() == nil, "\(backend): none yet")
            let start = ExperimentStart(reference: "models:/m@challenger", runId: "b", mode: "canary", percent: 30, sticky: "module_id")
            let first = try await fleet.startExperiment(start, by: "r1")
            #expect(first.version == 1 && first.status == .running && first.runId == "b" && first.percent == 30 && first.startedBy == "r1")
            #expect(try await fleet.experiment() == first, "\(backend): reads back")
            // A second start replaces it, one version up.
            let second = try await fleet.startExperiment(ExperimentStart(reference: "c", runId: "c", mode: "shadow", percent: 0, sticky: "module_id"), by: "r2")
            #expect(second.version == 2 && second.mode == "shadow" && second.reason == nil && second.endedAt == nil)
            // Ending an older version changes nothing; the running one ends once.
            #expect(try await fleet.endExperiment(version: 1, status: .stopped, reason: "old") == second)
            let stopped = try await fleet.endExperiment(version: 2, status: .stopped, reason: "error rate")
            #expect(stopped?.status == .stopped && stopped?.reason == "error rate" && stopped?.endedAt != nil)
            let again = try await fleet.endExperiment(version: 2, status: .ended, reason: "DELETE")
            #expect(again?.status == .stopped && again?.reason == "error rate", "\(backend): the first end stands")
            // Counters: one document per version and replica, upserted.
            try await fleet.writeExperimentCounters(version: 2, replica: "r1", counters: "{\"a\":1}")
            try await fleet.writeExperimentCounters(version: 2, replica: "r1", counters: "{\"a\":2}")
            try await fleet.writeExperimentCounters(version: 2, replica: "r2", counters: "{\"b\":1}")
            try await fleet.writeExperimentCounters(version: 1, replica: "r1", counters: "{\"old\":1}")
            #expect(try await fleet.experimentCounters(version: 2) == ["{\"a\":2}", "{\"b\":1}"], "\(backend)")
            #expect(try await fleet.experimentCounters(version: 3) == [])
        }
    }

    /// What a listener heard.
    final class Heard: Sendable {
        let events = Mutex<[FleetEvent]>([])
    }

    /// A publish, a trained asset model and an experiment's start and end are heard by a listener, after the commit.
    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason), .timeLimit(.minutes(5)))
    func postgresListenersHearPublishesAndAssetModels() async throws {
        try await TestDatabases.withStores(.postgres) { stores in
            let heard = Heard()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await stores.fleet.listen { event in heard.events.withLock { $0.append(event) } } }
                defer { group.cancelAll() }
                while !heard.events.withLock({ $0.contains(.subscribed) }) { try await Task.sleep(for: .milliseconds(10)) }
                let state = try await stores.fleet.publish(reference: "r", runId: "r", by: "me", reason: "test")
                _ = try await stores.anomalies.saveModel(
                    ModelRecord(
                        tenantId: "t1", modelType: "isolation_forest", modelVersion: "v1", assetId: "router 1/ü", trainingDate: Date(), metrics: "{}",
                        parameters: "{}", artifact: [1, 2, 3], metadata: "{}"))
                let experiment = try await stores.fleet.startExperiment(
                    ExperimentStart(reference: "c", runId: "c", mode: "shadow", percent: 0, sticky: "module_id"), by: "me")
                _ = try await stores.fleet.endExperiment(version: experiment.version, status: .ended, reason: "test")
                let deadline = Date().addingTimeInterval(10)
                while heard.events.withLock({ $0.count }) < 5, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(
                    heard.events.withLock { $0 } == [
                        .subscribed, .modelPublished(version: state.version), .assetModelChanged(tenantId: "t1", assetId: "router 1/ü"),
                        .experimentChanged, .experimentChanged,
                    ])
            }
        }
    }
}
