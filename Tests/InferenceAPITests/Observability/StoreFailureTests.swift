import AnomalyDetection
import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// A store that is down: every call fails as a database would. It stands in for PostgreSQL in
/// this test about how the HTTP layer answers and counts store failures.
struct UnreachableStore: AnomalyStore {
    func fail() -> StoreError { StoreError(backend: "unreachable", message: "connection refused") }
    func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], episodes: EpisodePolicy?,
        receipt: IdempotencyReceipt?
    ) async throws -> [EpisodeEvent] { throw fail() }
    func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample] { throw fail() }
    func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] { throw fail() }
    func assets(tenantId: String) async throws -> [AssetSummary] { throw fail() }
    func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord] { throw fail() }
    func scores(tenantId: String, afterId: Int64, settledBefore: Date, limit: Int) async throws -> [AnomalyScoreRecord] { throw fail() }
    func saveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)?) async throws -> ModelRecord { throw fail() }
    func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? { throw fail() }
    func models(tenantId: String, assetId: String?) async throws -> [ModelRecord] { throw fail() }
}

@Suite("Store failures")
struct StoreFailureTests {
    @Test func testAStoreThatIsDownAnswers503AndIsCounted() async throws {
        let models = ModelService(store: try MLflowStore(root: TestApp.repoRoot.appendingPathComponent("mlruns")), configuredReference: nil, selectMetric: "roc_auc")
        try await models.activate(try await models.startupReference())
        let telemetry = Telemetry()
        var stores = Stores.memory()
        stores.anomalies = UnreachableStore()
        let router = buildRouter(services: await AppServices(configuration: Configuration(), models: models, stores: stores, telemetry: telemetry))
        let app = Application(router: router)
        let body = try AnomalyRouteTests.json(["asset_id": "a-1", "samples": try AnomalyRouteTests.series(count: 3)])
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/anomaly/detect", method: .post, headers: TestApp.json, body: body)
            #expect(response.status == .serviceUnavailable)
            let envelope = try Envelope.decode(response)
            #expect(envelope.error.code == "unavailable")
            #expect(!envelope.error.message.contains("connection refused"), "no internals in the answer")
            let scores = try await client.execute(uri: "/anomaly/scores/a-1", method: .get)
            #expect(scores.status == .serviceUnavailable)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = try PrometheusText(String(buffer: metrics.body))
            #expect(text.value("store_errors_total", ["backend": "unreachable"]) == 2)
            #expect(text.value("http_requests_total", ["route": "/anomaly/detect", "status": "503"]) == 1)
        }
    }
}
