import AnomalyDetection
import Artifacts
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import ModelSources
import NIOCore
import Testing

@testable import InferenceAPI

/// The service on a real MLflow tracking server (`scripts/with-mlflow.sh`): following an alias
/// that an engineer moves, refusing a version that fails its checks, and serving on while the
/// server is down. Each test registers its own model, so tests never move each other's aliases.
@Suite(
    "Models from a tracking server", .enabled(if: MLflowServer.url != nil, "needs TEST_MLFLOW_URL: run under scripts/with-mlflow.sh (make test does)"),
    .timeLimit(.minutes(5)))
struct ModelSourceRouteTests {
    /// The alias moves to another version: within one refresh interval the follower has loaded,
    /// checked and swapped to it; to a version that cannot load: refused, the old model serves,
    /// `/models/active` says what was refused and why, and `/metrics` counts both.
    @Test func testAnAliasMoveIsFollowedAndABadTargetRefused() async throws {
        let server = try MLflowServer()
        let name = "follow-\(UUID().uuidString.prefix(8))"
        let champion = try server.vector("champion"), baseline = try server.vector("baseline")
        try await server.register(name)
        let v1 = try await server.version(name, source: "models:/\(champion.model_id!)", runId: champion.run_id, modelId: champion.model_id)
        let v2 = try await server.version(name, source: "models:/\(baseline.model_id!)", runId: baseline.run_id, modelId: baseline.model_id)
        let broken = try await server.version(name, source: "runs:/\(baseline.run_id)/no-such-model", runId: baseline.run_id, modelId: nil)
        try await server.alias(name, "live", v1)

        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        var configuration = TestApp.configuration {
            $0.modelSource.trackingURI = MLflowServer.url
            $0.modelSource.cacheDirectory = cache.path
            $0.modelReference = "models:/\(name)@live"
            $0.modelRefreshSeconds = 1
        }
        configuration.logLevel = .error
        let telemetry = Telemetry()
        let source = try await ModelSources.open(configuration.modelSource, logger: .init(label: "test"))
        let models = ModelService(source: source, configuredReference: configuration.modelReference, selectMetric: "roc_auc", telemetry: telemetry)
        let (started, _) = try await models.activateAtStartup()
        #expect(started.runId == champion.run_id)
        let follower = try #require(
            AliasFollower.make(models: models, refreshSeconds: 1, audit: nil, telemetry: telemetry, logger: .init(label: "test")))

        // The running follower notices the move within one interval (plus the load).
        try await server.alias(name, "live", v2)
        let moved = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await follower.run() }
            while models.active?.runId != baseline.run_id, ContinuousClock.now - moved < .seconds(20) {
                try await Task.sleep(for: .milliseconds(100))
            }
            group.cancelAll()
        }
        let took = ContinuousClock.now - moved
        #expect(models.active?.runId == baseline.run_id)
        #expect(models.active?.location.registry == .init(name: name, version: v2, alias: "live"))
        #expect(took < .seconds(6), "followed after \(took)")
        let predictions = try #require(models.active).predict(readings: baseline.readings)
        #expect(zip(predictions, baseline.probabilities).allSatisfy { abs(Double($0.probability) - $1) <= 1e-6 })

        // A version that fails: refused once, not retried, the baseline keeps serving.
        try await server.alias(name, "live", broken)
        #expect(await follower.check() == .refused)
        #expect(await follower.check() == .unchanged)
        #expect(models.active?.runId == baseline.run_id)
        let refusal = try #require(models.refused)
        #expect(refusal.version == broken && refusal.target == "models:/\(name)/\(broken)")
        #expect(refusal.reason.contains("no-such-model"), "\(refusal.reason)")

        let router = await buildRouter(configuration: configuration, models: models, stores: .memory(), telemetry: telemetry)
        try await Application(router: router).test(.router) { client in
            let active = try await client.execute(uri: "/models/active", method: .get)
            #expect(active.status == .ok)
            let body = try JSONSerialization.jsonObject(with: Data(buffer: active.body)) as? [String: Any] ?? [:]
            #expect(body["run_id"] as? String == baseline.run_id)
            let refused = body["refused"] as? [String: Any] ?? [:]
            #expect(refused["version"] as? Int == broken)
            #expect((refused["reason"] as? String)?.contains("no-such-model") == true)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"model_alias_checks_total{result="swapped"} 1"#), "\(metrics.split(separator: "\n").filter { $0.contains("alias") })")
            #expect(metrics.contains(#"model_alias_checks_total{result="refused"} 1"#))
        }

        // The alias comes back to what serves: the refusal is cleared.
        try await server.alias(name, "live", v2)
        #expect(await follower.check() == .unchanged)
        #expect(models.refused == nil)
        await source.close()
    }

    /// Down at start: the application starts on the cached model. Down at activation: 503, and
    /// the model serving keeps serving.
    @Test func testTheServerDownAtStartAndAtActivation() async throws {
        let server = try MLflowServer()
        let champion = try server.vector("champion")
        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let reference = "models:/battery-hazard@champion"

        // A first start with the server up fills the cache.
        let up = TestApp.configuration {
            $0.modelSource.trackingURI = MLflowServer.url
            $0.modelSource.cacheDirectory = cache.path
            $0.modelReference = reference
        }
        let first = try await buildApplication(configuration: up)
        try await first.test(.router) { client in
            let models = try await client.execute(uri: "/models?max_results=1", method: .get)
            #expect(models.status == .ok)
            let body = try JSONSerialization.jsonObject(with: Data(buffer: models.body)) as? [String: Any] ?? [:]
            #expect((body["runs"] as? [Any])?.count == 1)
            #expect(body["next_page_token"] is String)
            #expect((body["source"] as? String)?.hasPrefix("tracking server http://127.0.0.1") == true)
            let token = try #require(body["next_page_token"] as? String)
            let next = try await client.execute(uri: "/models?max_results=1&page_token=\(token)", method: .get)
            #expect(next.status == .ok)
            let bad = try await client.execute(uri: "/models?page_token=not-a-token", method: .get)
            #expect(bad.status == .badRequest)
        }

        // The server is gone: the same cache, a URL where nothing listens.
        let dead = MLflowServer.deadURL()
        let down = TestApp.configuration {
            $0.modelSource.trackingURI = dead
            $0.modelSource.cacheDirectory = cache.path
            $0.modelSource.attempts = 2
            $0.modelReference = reference
        }
        // The cache is per server: this server's copy, under the dead one's name.
        let folders = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        let deadKey = String(dead.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        try FileManager.default.copyItem(atPath: cache.appendingPathComponent(try #require(folders.first)).path, toPath: cache.appendingPathComponent(deadKey).path)
        let second = try await buildApplication(configuration: down)
        try await second.test(.router) { client in
            let active = try await client.execute(uri: "/models/active", method: .get)
            #expect(active.status == .ok)
            let body = try JSONSerialization.jsonObject(with: Data(buffer: active.body)) as? [String: Any] ?? [:]
            #expect(body["run_id"] as? String == champion.run_id)
            let predict = try await client.execute(
                uri: "/predict", method: .post, headers: TestApp.json,
                body: ByteBuffer(data: try JSONSerialization.data(withJSONObject: ["readings": Array(champion.readings.prefix(5))])))
            #expect(predict.status == .ok)

            let activate = try await client.execute(
                uri: "/models/activate", method: .post, headers: TestApp.json, body: ByteBuffer(string: #"{"model_uri": "models:/battery-hazard/1"}"#))
            #expect(activate.status == .serviceUnavailable)
            #expect(String(buffer: activate.body).contains("model_source_unavailable"))
            let still = try await client.execute(uri: "/models/active", method: .get)
            let after = try JSONSerialization.jsonObject(with: Data(buffer: still.body)) as? [String: Any] ?? [:]
            #expect(after["run_id"] as? String == champion.run_id)
        }
    }
}

/// The open tracking server of `scripts/with-mlflow.sh`, and the few registry writes these tests
/// make on it through MLflow's REST API (the service itself never writes to MLflow).
struct MLflowServer {
    static var url: String? { ProcessInfo.processInfo.environment["TEST_MLFLOW_URL"] }

    struct Vector: Decodable {
        let role: String
        let run_id: String
        let model_id: String?
        let readings: [[String: Double]]
        let probabilities: [Double]
        let predictions: [Int]
    }

    let base: String
    let vectors: [Vector]

    init() throws {
        guard let url = Self.url, let folder = ProcessInfo.processInfo.environment["TEST_MLFLOW_VECTORS"] else {
            throw TestFailure("TEST_MLFLOW_URL / TEST_MLFLOW_VECTORS are not set")
        }
        base = url
        vectors = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".json") }.map {
            try JSONDecoder().decode(Vector.self, from: Data(contentsOf: URL(fileURLWithPath: "\(folder)/\($0)")))
        }
    }

    func vector(_ role: String) throws -> Vector {
        guard let found = vectors.first(where: { $0.role == role }) else { throw TestFailure("no \(role) vector") }
        return found
    }

    private func post(_ path: String, _ body: [String: String]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "\(base)/api/2.0/mlflow/\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { throw TestFailure("\(path): \(response.status) \(String(decoding: data, as: UTF8.self))") }
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    func register(_ name: String) async throws {
        _ = try await post("registered-models/create", ["name": name])
    }

    func version(_ name: String, source: String, runId: String, modelId: String?) async throws -> Int {
        var body = ["name": name, "source": source, "run_id": runId]
        if let modelId { body["model_id"] = modelId }
        let answer = try await post("model-versions/create", body)
        guard let text = (answer["model_version"] as? [String: Any])?["version"] as? String, let version = Int(text) else {
            throw TestFailure("no version in \(answer)")
        }
        return version
    }

    func alias(_ name: String, _ alias: String, _ version: Int) async throws {
        _ = try await post("registered-models/alias", ["name": name, "alias": alias, "version": String(version)])
    }

    /// A loopback URL where nothing listens (port 1, tcpmux: never served here), so every
    /// connection is refused at once.
    static func deadURL() -> String { "http://127.0.0.1:1" }
}
