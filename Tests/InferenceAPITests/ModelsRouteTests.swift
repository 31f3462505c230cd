import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

@Suite("Model management", .timeLimit(.minutes(5)))
struct ModelsRouteTests {
    static func activate(_ client: some TestClientProtocol, _ json: String) async throws -> TestResponse {
        try await client.execute(uri: "/models/activate", method: .post, headers: TestApp.json, body: ByteBuffer(string: json))
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
    }

    @Test func testListShowsEveryRunAndWhichIsActive() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let runIds = Set(try TestApp.defaultStoreVectors().map(\.run_id))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/models", method: .get)
            #expect(response.status == .ok)
            let runs = try Self.json(response)["runs"] as? [[String: Any]] ?? []
            #expect(Set(runs.compactMap { $0["run_id"] as? String }) == runIds)
            #expect(runs.filter { $0["active"] as? Bool == true }.count == 1)
            #expect(runs.allSatisfy { $0["servable"] as? Bool == true })
        }
    }

    @Test func testActivateSwapsToTheNamedRunAndBack() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let vectors = try TestApp.defaultStoreVectors()
        try #require(vectors.count >= 2)
        try await app.test(.router) { client in
            for vector in vectors {
                let response = try await Self.activate(client, "{\"run_id\": \"\(vector.run_id)\"}")
                #expect(response.status == .ok)
                #expect(try Self.json(response)["run_id"] as? String == vector.run_id)
                let predicted = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(Array(vector.readings.prefix(5))))
                let answer = try PredictAnswer.decode(predicted)
                #expect(answer.model.run_id == vector.run_id)
                for (p, expected) in zip(answer.predictions, vector.probabilities) { #expect(abs(p.hazard_probability - expected) <= 1e-6) }
            }
            let byAlias = try await Self.activate(client, "{\"model_uri\": \"models:/battery-hazard@champion\"}")
            #expect(byAlias.status == .ok)
            let registry = try Self.json(byAlias)["registered_model"] as? [String: Any]
            #expect(registry?["alias"] as? String == "champion")
            // Every activation is in model_metadata, newest first, the previous ones retired.
            let audit = try Self.json(try await client.execute(uri: "/anomaly/models", method: .get))["models"] as? [[String: Any]] ?? []
            let hazard = audit.filter { $0["model_type"] as? String == "xgboost_hazard" }
            #expect(hazard.count == vectors.count + 2, "start-up, each run, then the alias")
            #expect(hazard.first?["status"] as? String == "active")
            #expect(hazard.dropFirst().allSatisfy { $0["status"] as? String == "retired" })
        }
    }

    @Test(arguments: [
        ("{\"run_id\": \"../../etc\"}", HTTPResponse.Status.badRequest, "invalid_reference"),
        ("{\"run_id\": \"ffffffffffffffffffffffffffffffff\"}", .notFound, "model_not_found"),
        ("{\"model_uri\": \"models:/battery-hazard@nope\"}", .notFound, "model_not_found"),
        ("{\"model_uri\": \"models:/battery-hazard/99\"}", .notFound, "model_not_found"),
        ("{}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"a\", \"model_uri\": \"b\"}", .badRequest, "validation_failed"),
        ("not json", .badRequest, "validation_failed"),
    ])
    func testActivateKeepsOldModelWhenLoadFails(body: String, status: HTTPResponse.Status, code: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let before = try Self.json(try await client.execute(uri: "/models/active", method: .get))["run_id"] as? String
            let response = try await Self.activate(client, body)
            #expect(response.status == status)
            let envelope = try Envelope.decode(response)
            #expect(envelope.error.code == code)
            let after = try Self.json(try await client.execute(uri: "/models/active", method: .get))["run_id"] as? String
            #expect(before != nil && before == after, "the old model keeps serving")
        }
    }

    /// Concurrent /predict calls during 20 swaps: none fails, and every answer's probabilities are
    /// those of the run the answer names.
    @Test func testSwapsWhileRequestsAreInFlightLoseNothing() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let vectors = try TestApp.defaultStoreVectors()
        try #require(vectors.count >= 2)
        let expected = Dictionary(uniqueKeysWithValues: vectors.map { ($0.run_id, $0.probabilities) })
        // Every run's vector holds the same held-out readings, so one body checks any run's answer.
        try #require(vectors.allSatisfy { $0.readings == vectors[0].readings })
        let readings = Array(vectors[0].readings.prefix(100))
        let body = TestApp.body(readings)
        try await app.test(.live) { client in
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    for swap in 0..<20 {
                        let target = vectors[swap % vectors.count].run_id
                        let response = try await Self.activate(client, "{\"run_id\": \"\(target)\"}")
                        #expect(response.status == .ok)
                    }
                    return 0
                }
                for _ in 0..<4 {
                    group.addTask {
                        var checked = 0
                        for _ in 0..<25 {
                            let response = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: body)
                            #expect(response.status == .ok)
                            let answer = try PredictAnswer.decode(response)
                            // The answer names its run; its probabilities must be that run's.
                            let truth = try #require(expected[answer.model.run_id])
                            for (p, e) in zip(answer.predictions, truth) { #expect(abs(p.hazard_probability - e) <= 1e-6) }
                            checked += 1
                        }
                        return checked
                    }
                }
                var answered = 0
                for try await n in group { answered += n }
                #expect(answered == 100)
            }
        }
    }
}

@Suite("SIGHUP reload")
struct ReloadTests {
    /// SIGHUP re-resolves the configured reference: a manual activation is replaced by what the
    /// configuration (here the champion alias) names now.
    @Test func testReloadReturnsToTheConfiguredReference() async throws {
        let configuration = TestApp.configuration()
        let store = try Artifacts.MLflowStore(root: URL(fileURLWithPath: configuration.mlrunsDirectory))
        let models = ModelService(store: store, configuredReference: nil, selectMetric: "roc_auc")
        let champion = try await models.activate(try await models.startupReference())
        let other = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != champion.runId })
        try await models.activate(other.run_id)
        #expect(models.active?.runId == other.run_id)
        let fleetStore = MemoryFleetStore()
        let fleet = FleetCoordinator(
            identity: FleetCoordinator.identity(configured: "r1"), store: fleetStore, models: models, logger: .init(label: "test"))
        let activation = ModelActivation(models: models, fleet: fleet, audit: nil, logger: .init(label: "test"))
        await ReloadOnHangup(models: models, activation: activation, logger: .init(label: "test")).reload()
        #expect(models.active?.runId == champion.runId)
        #expect(models.trafficSnapshot.swaps == 2)
        #expect(try await fleetStore.state()?.runId == champion.runId, "SIGHUP records the configured run for the whole fleet")
    }
}
