import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// Two replicas in one process sharing a fleet store: one whose model store lacks the run the
/// fleet records keeps its model, says it diverged and why, answers 503 on /ready, and recovers
/// when the fleet goes back to a run it has.
@Suite("Fleet routes", .timeLimit(.minutes(5)))
struct FleetRouteTests {
    @Test func testAReplicaThatCannotLoadTheFleetsRunDivergesAndIsNotReady() async throws {
        let champion = try TestApp.servedVector()
        let baseline = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != champion.run_id })

        // Replica b's store: the default one without the baseline run's folder.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-route-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("mlruns")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestApp.repoRoot.appendingPathComponent("mlruns"), to: copy)
        let runs = try FileManager.default.subpathsOfDirectory(atPath: copy.path).filter { $0.hasSuffix(baseline.run_id) }
        let removed = try #require(runs.first, "the baseline run's folder in the copied store")
        try FileManager.default.removeItem(at: copy.appendingPathComponent(removed))

        let shared = MemoryFleetStore()
        func replica(_ id: String, mlruns: URL) async throws -> (FleetCoordinator, Router<AppRequestContext>) {
            let configuration = TestApp.configuration {
                $0.mlrunsDirectory = mlruns.path
                $0.replicaId = id
            }
            let models = ModelService(store: try MLflowStore(root: mlruns), configuredReference: champion.run_id, selectMetric: "roc_auc")
            let model = try await models.activate(champion.run_id)
            var stores = Stores.memory()
            stores.fleet = shared
            let services = await AppServices(configuration: configuration, models: models, stores: stores)
            await services.fleet.start(loaded: model, reference: champion.run_id)
            return (services.fleet, buildRouter(services: services))
        }
        let (a, _) = try await replica("a", mlruns: TestApp.repoRoot.appendingPathComponent("mlruns"))
        let (b, routerB) = try await replica("b", mlruns: copy)

        let baselineModel = try await a.models.load(baseline.run_id)
        let recorded = try await a.publish(baselineModel, reference: baseline.run_id, reason: "test")
        await b.sync(trigger: "test")

        let app = Application(router: routerB)
        try await app.test(.router) { client in
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .serviceUnavailable)
            let envelope = try Envelope.decode(ready)
            #expect(envelope.error.code == "diverged" && envelope.error.message.contains(baseline.run_id), "\(envelope.error.message)")

            let active = try await client.execute(uri: "/models/active", method: .get)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: active.body)) as? [String: Any])
            #expect(object["run_id"] as? String == champion.run_id, "b keeps serving its model")
            let fleet = try #require(object["fleet"] as? [String: Any])
            #expect(fleet["in_sync"] as? Bool == false && fleet["replica_run_id"] as? String == champion.run_id)
            #expect((fleet["recorded"] as? [String: Any])?["run_id"] as? String == baseline.run_id)
            #expect((fleet["recorded"] as? [String: Any])?["version"] as? Int == Int(recorded.version))
            #expect((fleet["diverged_reason"] as? String)?.contains(baseline.run_id) == true)

            // Heartbeats as each replica's poll would write them (no FleetService runs here).
            await a.beat()
            await b.beat()
            let listed = try await client.execute(uri: "/fleet", method: .get)
            let replicas = (try JSONSerialization.jsonObject(with: Data(buffer: listed.body)) as? [String: Any])?["replicas"] as? [[String: Any]] ?? []
            let byId = Dictionary(uniqueKeysWithValues: replicas.compactMap { r in (r["id"] as? String).map { ($0, r) } })
            #expect(byId["a"]?["version"] as? Int == Int(recorded.version) && byId["a"]?["run_id"] as? String == baseline.run_id, "\(replicas)")
            #expect(byId["b"]?["ready"] as? Bool == false && byId["b"]?["run_id"] as? String == champion.run_id, "\(replicas)")
            #expect((byId["b"]?["diverged_reason"] as? String)?.contains(baseline.run_id) == true)
        }

        // The fleet goes back to a run b has: b follows and is ready again.
        _ = try await a.publish(try await a.models.load(champion.run_id), reference: champion.run_id, reason: "back")
        await b.sync(trigger: "test")
        try await app.test(.router) { client in
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .ok)
        }
        #expect(b.divergedReason == nil && b.snapshot.servedVersion == recorded.version + 1)
    }

    /// With SQLite the fleet is this process, and /fleet says so.
    @Test func testWithSQLiteTheFleetIsLocalAndSaysSo() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let answer = try await client.execute(uri: "/fleet", method: .get)
            #expect(answer.status == .ok)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: answer.body)) as? [String: Any])
            #expect(object["scope"] as? String == "local")
            #expect((object["note"] as? String)?.contains("DATABASE_URL") == true)
            let fleet = try #require(object["fleet"] as? [String: Any])
            #expect(fleet["in_sync"] as? Bool == true && fleet["replica_version"] as? Int == 1, "\(fleet)")
        }
    }
}
