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

        /// What a listener heard.
    final class Heard: Sendable {
        let events = Mutex<[FleetEvent]>([])
    }

    /// A publish and a trained asset model are heard by a listener, after the commit.
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
                let deadline = Date().addingTimeInterval(10)
                while heard.events.withLock({ $0.count }) < 3, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(heard.events.withLock { $0 } == [.subscribed, .modelPublished(version: state.version), .assetModelChanged(tenantId: "t1", assetId: "router 1/ü")])
            }
        }
    }
}
