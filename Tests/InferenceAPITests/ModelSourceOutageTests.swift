import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
import ModelSources
import Storage
import Testing

@testable import InferenceAPI

/// `POST /models/activate` while the model source cannot be reached: answered 503 within
/// `MLFLOW_HTTP_REQUEST_TIMEOUT` + 1 s (retries included), the served model untouched. No MLflow
/// needed: the source is a loopback port nothing listens on, the served model the file store's.
@Suite("Model source outage", .timeLimit(.minutes(2)))
struct ModelSourceOutageTests {
    @Test func testAnActivationAgainstARefusingSourceIsAnsweredWithinTheRequestTimeout() async throws {
        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let timeout = 2
        let configuration = TestApp.configuration {
            $0.modelSource.trackingURI = "http://127.0.0.1:\(try! DedicatedMLflow.freePort())"
            $0.modelSource.cacheDirectory = cache.path
            $0.modelSource.requestTimeoutSeconds = timeout
            $0.modelSource.attempts = 3
            $0.logLevel = .critical
        }
        let source = try await ModelSources.open(configuration.modelSource, logger: .init(label: "test"))
        defer { Task { await source.close() } }
        let store = try MLflowStore(root: TestApp.repoRoot.appendingPathComponent("mlruns"))
        let served = try HazardModel(location: try store.resolve(try #require(try ModelSelection.defaultReference(in: store))))
        let models = ModelService(source: source, configuredReference: nil, selectMetric: "roc_auc")
        models.install(served)

        let router = buildRouter(services: await AppServices(configuration: configuration, models: models, stores: .memory()))
        try await Application(router: router).test(.router) { client in
            let started = ContinuousClock.now
            let answer = try await client.execute(
                uri: "/models/activate", method: .post, headers: TestApp.json, body: ByteBuffer(string: #"{"model_uri": "models:/battery-hazard/1"}"#))
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("refused source: /models/activate answered \(answer.status.code) after \(String(format: "%.2f", seconds)) s")
            #expect(answer.status == .serviceUnavailable)
            #expect(String(buffer: answer.body).contains("model_source_unavailable"), "\(String(buffer: answer.body))")
            #expect(seconds < Double(timeout) + 1)
        }
        #expect(models.active?.runId == served.runId)
    }
}
