import Artifacts
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import ModelSources
import NIOCore
import Storage
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
            AliasFollower.make(
                models: models, refreshSeconds: 1, activation: TestApp.activation(models), telemetry: telemetry, logger: .init(label: "test")))

        // The running follower notices the move within one interval: it starts loading the new
        // version at most an interval (plus the REST calls) after the move. The version's files
        // are downloaded beforehand, so the measure is the follower's, not the download's; how
        // long the load itself takes depends on the machine and is not the point.
        _ = try await source.resolve("models:/\(name)/\(v2)")
        try await server.alias(name, "live", v2)
        let moved = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await follower.run() }
            let deadline = ContinuousClock.now + .seconds(120)
            while models.active?.runId != baseline.run_id, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            group.cancelAll()
        }
        let swapped = try #require(models.active)
        #expect(swapped.runId == baseline.run_id)
        #expect(swapped.location.registry == .init(name: name, version: v2, alias: "live"))
        let loadStarted = swapped.loadedAt.addingTimeInterval(-swapped.loadSeconds)
        #expect(loadStarted.timeIntervalSince(moved) < 1 + 5, "the load started \(loadStarted.timeIntervalSince(moved)) s after the move")
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

        let router = buildRouter(services: await AppServices(configuration: configuration, models: models, stores: .memory(), telemetry: telemetry))
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

    /// The real binary against a tracking server of its own (MLflow 3.17.2 on the suite's backend
    /// database): the first start downloads into the cache; with the server stopped, the next
    /// start serves the cached model, and an activation is a 503 while the model keeps serving.
    @Test func testTheServerDownAtStartAndAtActivation() async throws {
        let server = try MLflowServer()
        let champion = try server.vector("champion")
        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let mlflow = try await DedicatedMLflow.start()
        let environment = [
            "MLFLOW_TRACKING_URI": mlflow.url, "MODEL_URI": "models:/battery-hazard@champion", "MODEL_CACHE_DIR": cache.path,
            "MODEL_REFRESH_SECONDS": "0", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        ]

        let first = try await ServerProcess(environment: environment)
        #expect(try Self.json(await first.get("/models/active"))["run_id"] as? String == champion.run_id)
        let page = try Self.json(await first.get("/models?max_results=1"))
        #expect((page["runs"] as? [Any])?.count == 1)
        #expect((page["source"] as? String)?.hasPrefix("tracking server \(mlflow.url)") == true)
        let token = try #require(page["next_page_token"] as? String)
        #expect((try Self.json(await first.get("/models?max_results=1&page_token=\(token)"))["runs"] as? [Any])?.count == 1)
        #expect(try Self.json(await first.get("/models?page_token=not-a-token"))["error"] != nil)
        first.process.terminate()
        await stopWaiting(first.process)
        await mlflow.stop()

        // The server is down: the same URL, the same cache.
        let second = try await ServerProcess(environment: environment)
        #expect(second.logs.text.contains("serving the cached model"), "\(second.logs.text.suffix(1500))")
        #expect(try Self.json(await second.get("/models/active"))["run_id"] as? String == champion.run_id)
        let predict = try await Self.post(
            second.port, "/predict", try JSONSerialization.data(withJSONObject: ["readings": Array(champion.readings.prefix(5))]))
        #expect(predict.status == 200)
        let probabilities = ((try Self.json(predict.body)["predictions"] as? [[String: Any]]) ?? []).compactMap { $0["hazard_probability"] as? Double }
        #expect(probabilities.count == 5 && zip(probabilities, champion.probabilities).allSatisfy { abs($0 - $1) <= 1e-6 })
        let activate = try await Self.post(second.port, "/models/activate", Data(#"{"model_uri": "models:/battery-hazard/1"}"#.utf8))
        #expect(activate.status == 503)
        #expect(activate.body.contains("model_source_unavailable"))
        #expect(try Self.json(await second.get("/models/active"))["run_id"] as? String == champion.run_id)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    static func post(_ port: Int, _ path: String, _ body: Data) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 22)))
    }
}

/// An `mlflow server` of the test's own on the suite's backend database and artifact root (what
/// `scripts/with-mlflow.sh` made), so the test can stop it.
final class DedicatedMLflow: @unchecked Sendable {
    let process = Process()
    let url: String

    static func start() async throws -> DedicatedMLflow {
        let environment = ProcessInfo.processInfo.environment
        guard let database = environment["TEST_MLFLOW_DB"], let artifacts = environment["TEST_MLFLOW_ARTIFACTS"] else {
            throw TestFailure("TEST_MLFLOW_DB / TEST_MLFLOW_ARTIFACTS are not set")
        }
        let server = DedicatedMLflow(port: try freePort())
        // `setsid --wait`: mlflow in a session (and process group) of its own, so stopping it stops
        // uvicorn's workers too; setsid stays, the handle to find the group by.
        server.process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        server.process.arguments = [
            "--wait", TestApp.repoRoot.appendingPathComponent("fixtures/.venv-mlflow-server/bin/mlflow").path, "server", "--backend-store-uri", "sqlite:///\(database)", "--serve-artifacts", "--artifacts-destination", artifacts,
            "--host", "127.0.0.1", "--port", String(server.port), "--workers", "1",
        ]
        server.process.standardOutput = FileHandle.nullDevice
        server.process.standardError = FileHandle.nullDevice
        try server.process.run()
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline, server.process.isRunning {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "\(server.url)/health"), timeout: .seconds(5)),
                response.status == .ok
            {
                return server
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        await server.stop()
        throw TestFailure("mlflow server on \(server.url) did not start")
    }

    private let port: Int

    private init(port: Int) {
        self.port = port
        self.url = "http://127.0.0.1:\(port)"
    }

    /// The server's process group (mlflow and its workers), while it runs.
    private var group: Int32? {
        let setsid = process.processIdentifier
        guard setsid > 0, process.isRunning,
            let children = try? String(contentsOfFile: "/proc/\(setsid)/task/\(setsid)/children", encoding: .utf8)
        else { return nil }
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    /// SIGSTOP to its process group: connections are still accepted (by the kernel) and never
    /// answered, a server that stalls. `thaw` (or `stop`) resumes it.
    func freeze() {
        if let group { kill(-group, SIGSTOP) }
    }

    func thaw() {
        if let group { kill(-group, SIGCONT) }
    }

    /// SIGTERM to its process group, and waits (polling with Task.sleep, off the pool's threads)
    /// until every process of it has exited; SIGKILL after 15 s.
    func stop() async {
        guard let group else { return }
        kill(-group, SIGCONT)
        kill(-group, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while kill(-group, 0) == 0, Date() < deadline {
            if (try? await Task.sleep(for: .milliseconds(100))) == nil { usleep(100_000) }
        }
        if kill(-group, 0) == 0 { kill(-group, SIGKILL) }
        _ = await exited(process, within: 15)
    }

    /// A test that failed before `stop()`: the group killed, nothing waited for.
    deinit {
        if let group {
            kill(-group, SIGCONT)
            kill(-group, SIGKILL)
        }
    }

    /// A loopback port nothing listens on now (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard ok else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
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
}
