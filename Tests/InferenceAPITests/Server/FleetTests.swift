import AsyncHTTPClient
import ComputeSupport
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization
import Testing

@testable import InferenceAPI

#if canImport(Glibc)
import Glibc
#endif

/// Three real replicas (`inference-api serve`) on one throwaway PostgreSQL, real nginx in front,
/// under load: an activation through one replica reaches every replica within 2 s, a replica
/// killed with SIGKILL costs clients no failed `/predict` and no lost or doubled sample, and a
/// restarted replica serves the fleet's run before it reports ready. Tokens and the login
/// throttle hold across replicas.
@Suite("Fleet", .timeLimit(.minutes(5)), .enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
struct FleetTests {
    static let loadSeconds = 30.0
    static let predictWorkers = 6
    static let detectWorkers = 4

    /// What a client saw for one request through nginx.
    struct Answer: Sendable {
        let started: Double
        let upstream: String
        let runId: String
    }

    /// Everything the load generator saw, shared by its workers.
    final class Ledger: Sendable {
        struct State {
            var answers: [Answer] = []
            var predictFailures: [String] = []
            var predictCount = 0
            var detectFailures: [String] = []
            var detectRetries = 0
            var acknowledged: [String] = []
            var wrongProbabilities: [String] = []
        }
        let state = Mutex(State())
    }

    /// When the activation, the kill and the restart happened, and what they took.
    final class Timeline: Sendable {
        struct State {
            var activated: Double?
            var restarted: Double?
            var restartToReady: Double?
            var convergence: [String: Double] = [:]
            var restartRun: String?
        }
        let state = Mutex(State())
    }

    @Test func testReplicasBehaveAsOneServiceUnderLoad() async throws {
        let baseURL = try #require(TestApp.postgresURL, "TEST_DATABASE_URL is not set")
        let binary = ServerProcess.executable
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build the executable first (swift build): \(binary.path)")
        try #require(NginxProxy.binary != nil, "nginx is not installed (make test installs it)")

        let champion = try TestApp.servedVector()
        let baseline = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != champion.run_id }, "a second run in mlruns/")
        #expect(champion.readings == baseline.readings, "both vectors score the same readings")
        let vectors = [champion.run_id: champion, baseline.run_id: baseline]

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try await FleetDatabase.create(url: baseURL)

        let environment: [String: String] = SecuredApp.environment.merging([
            "DATABASE_URL": database.url, "HOST": "127.0.0.1", "MLRUNS_DIR": TestApp.repoRoot.appendingPathComponent("mlruns").path,
            "BEST_MLFLOW_RUN_ID": champion.run_id, "FLEET_POLL_SECONDS": "2", "LOG_FORMAT": "json", "LOG_LEVEL": "notice",
            "RATE_LIMIT_PER_MINUTE": "100000000", "LOGIN_MAX_FAILURES": "5", "PATH": "/usr/bin:/bin",
        ]) { _, new in new }
        let replicas = try (1...3).map { ReplicaProcess(name: "replica-\($0)", port: try freeLoopbackPort(), environment: environment, directory: directory) }
        let proxy = try NginxProxy(port: try freeLoopbackPort(), upstreams: replicas.map(\.port), directory: directory)
        let client = Self.loadClient()
        do {
            try await Self.run(
                client: client, replicas: replicas, proxy: proxy, champion: champion, baseline: baseline, vectors: vectors, databaseURL: database.url)
        } catch {
            try? await client.shutdown()
            for replica in replicas { await replica.stop() }
            await proxy.stop()
            throw error
        }
        try await client.shutdown()
        for replica in replicas { await replica.stop() }
        await proxy.stop()
        try await FleetDatabase.drop(url: baseURL, name: database.name)
    }

    static func run(
        client: HTTPClient, replicas: [ReplicaProcess], proxy: NginxProxy, champion: TestApp.Vector, baseline: TestApp.Vector,
        vectors: [String: TestApp.Vector], databaseURL: String
    ) async throws {

        try await Self.start(replicas, behind: proxy, client: client)

        try await Self.checkTokensAcrossReplicas(client: client, replicas: replicas)
        let idle = replicas.compactMap(\.residentMiB)

        // The load, with the activation, the kill and the restart on its timeline.
        let ledger = Ledger()
        let clock = Date()
        let elapsed: @Sendable () -> Double = { Date().timeIntervalSince(clock) }
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        let timeline = Timeline()

        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<Self.predictWorkers {
                group.addTask {
                    try await Self.predictLoad(
                        worker: worker, client: client, url: proxyURL, readings: champion.readings, vectors: vectors, ledger: ledger, elapsed: elapsed)
                }
            }
            for worker in 0..<Self.detectWorkers {
                group.addTask { try await Self.detectLoad(worker: worker, client: client, url: proxyURL, ledger: ledger, elapsed: elapsed) }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(5))
                // Activate the baseline run through replica 1, then watch each replica directly.
                let activation = try await Self.send(
                    client, replicas[0].url + "/models/activate", method: .POST, key: .fleetAdmin, body: ["run_id": baseline.run_id])
                let activated = elapsed()
                #expect(activation.status == .ok, "activation: \(activation.body)")
                timeline.state.withLock { $0.activated = activated }
                try await withThrowingTaskGroup(of: (String, Double).self) { probes in
                    for replica in replicas {
                        probes.addTask {
                            while elapsed() - activated < 10 {
                                let probe = try await Self.send(
                                    client, replica.url + "/predict", method: .POST, key: .predict, body: ["readings": [champion.readings[0]]])
                                if Self.runId(probe.body) == baseline.run_id { return (replica.name, elapsed() - activated) }
                                try await Task.sleep(for: .milliseconds(20))
                            }
                            return (replica.name, .infinity)
                        }
                    }
                    for try await (name, seconds) in probes { timeline.state.withLock { $0.convergence[name] = seconds } }
                }
                try await Task.sleep(for: .seconds(max(0, 12 - elapsed())))
                await replicas[1].kill9()
                try await Task.sleep(for: .seconds(5))
                timeline.state.withLock { $0.restarted = elapsed() }
                let launched = Date()
                try replicas[1].launch()
                _ = try await replicas[1].waitUntilReady(client: client)
                let ready = Date().timeIntervalSince(launched)
                let active = try await Self.send(client, replicas[1].url + "/models/active", method: .GET, key: .admin, body: nil)
                let run = (try? JSONSerialization.jsonObject(with: Data(active.body.utf8)) as? [String: Any])?["run_id"] as? String
                timeline.state.withLock {
                    $0.restartToReady = ready
                    $0.restartRun = run
                }
            }
            try await group.waitForAll()
        }

        let loaded = replicas.compactMap(\.residentMiB)
        let seen = timeline.state.withLock { $0 }
        let result = ledger.state.withLock { $0 }
        let stored = try await Self.storedSamples(url: databaseURL)
        try await Self.checkFleetEndpoint(client: client, replicas: replicas, run: baseline.run_id)

        let convergence = seen.convergence.values.max() ?? .infinity
        let acknowledgedSet = Set(result.acknowledged)
        print(
            """
            fleet: swap convergence (max over 3 replicas) \(String(format: "%.3f", convergence)) s \(seen.convergence.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3f", $0.value))" })
            fleet: /predict answers \(result.predictCount), client-visible /predict errors \(result.predictFailures.count); /anomaly/detect errors after one retry \(result.detectFailures.count) (retries \(result.detectRetries))
            fleet: samples acknowledged \(result.acknowledged.count), stored \(stored.count)
            fleet: restart-to-ready \(String(format: "%.3f", seen.restartToReady ?? .infinity)) s, serving \(seen.restartRun ?? "?") when first ready
            fleet: RSS per replica (debug build) idle \(idle.map { String(format: "%.0f", $0) }) MiB, after the load \(loaded.map { String(format: "%.0f", $0) }) MiB
            """)

        #expect(convergence <= 2, "every replica names the new run within 2 s: \(seen.convergence)")
        #expect(result.predictFailures.isEmpty, "no failed /predict: \(result.predictFailures.prefix(5))")
        #expect(result.wrongProbabilities.isEmpty, "probabilities equal the named run's vectors: \(result.wrongProbabilities.prefix(5))")
        #expect(result.predictCount > 100, "the load ran (\(result.predictCount) answers)")
        #expect(result.detectFailures.isEmpty, "detect failures after a retry: \(result.detectFailures.prefix(5))")
        #expect(result.acknowledged.count == acknowledgedSet.count, "every acknowledged sample is distinct")
        #expect(stored.count == result.acknowledged.count && Set(stored) == acknowledgedSet, "stored samples equal the acknowledged ones")
        #expect(seen.restartRun == baseline.run_id, "the restarted replica serves the fleet's run when it first reports ready")

        // No answer started 2 s after the activation names the old run, on any replica.
        let activated = try #require(seen.activated)
        let late = result.answers.filter { $0.started > activated + 2 && $0.runId != baseline.run_id }
        #expect(late.isEmpty, "answers naming the old run after the swap: \(late.prefix(5))")
        let upstreams = Set(result.answers.filter { $0.started > activated + 2 }.map(\.upstream))
        #expect(upstreams.count == 3, "every replica answered after the swap: \(upstreams)")
    }

    // MARK: - Load

    static func predictLoad(
        worker: Int, client: HTTPClient, url: String, readings: [[String: Double]], vectors: [String: TestApp.Vector], ledger: Ledger,
        elapsed: @escaping @Sendable () -> Double, seconds: Double = loadSeconds
    ) async throws {
        var k = worker
        while elapsed() < seconds {
            let indices = (0..<5).map { (k * 5 + $0 * 7) % readings.count }
            k += predictWorkers
            let body: [String: Any] = [
                "readings": indices.map { i -> [String: Any] in
                    var reading: [String: Any] = readings[i]
                    reading["module_id"] = "v\(i)"
                    return reading
                }
            ]
            let started = elapsed()
            let answer: (status: HTTPResponseStatus, body: String, upstream: String)
            do {
                answer = try await send(client, url + "/predict", method: .POST, key: .predict, body: body)
            } catch {
                ledger.state.withLock { $0.predictFailures.append("\(String(format: "%.2f", started)) s: \(error)") }
                continue
            }
            guard answer.status == .ok, let runId = runId(answer.body), let vector = vectors[runId],
                let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
                let predictions = object["predictions"] as? [[String: Any]]
            else {
                ledger.state.withLock { $0.predictFailures.append("\(String(format: "%.2f", started)) s: \(answer.status) \(answer.body.prefix(200))") }
                continue
            }
            var wrong: [String] = []
            for prediction in predictions {
                guard let module = prediction["module_id"] as? String, let i = Int(module.dropFirst()),
                    let probability = prediction["hazard_probability"] as? Double, abs(probability - vector.probabilities[i]) <= 1e-6
                else {
                    wrong.append("\(runId) \(prediction)")
                    continue
                }
            }
            if predictions.count != indices.count { wrong.append("\(predictions.count) predictions for \(indices.count) readings") }
            ledger.state.withLock {
                $0.predictCount += 1
                $0.wrongProbabilities += wrong
                $0.answers.append(Answer(started: started, upstream: answer.upstream, runId: runId))
            }
        }
    }

    static func detectLoad(worker: Int, client: HTTPClient, url: String, ledger: Ledger, elapsed: @escaping @Sendable () -> Double) async throws {
        let asset = "fleet-asset-\(worker)"
        var second = 0
        while elapsed() < loadSeconds {
            let times = (0..<4).map { offset -> String in
                ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: 1_780_000_000 + Double(second + offset)))
            }
            second += 4
            let body: [String: Any] = [
                "asset_id": asset, "persist": true,
                "samples": times.enumerated().map { i, t in ["timestamp": t, "metrics": ["cpu": Double(40 + (second + i) % 7), "latency_ms": 12.5]] },
            ]
            // Serialized once: a retry must send the same bytes (the key is bound to them), and
            // JSONSerialization does not promise one key order from call to call.
            let bytes = try JSONSerialization.data(withJSONObject: body)
            let key = UUID().uuidString
            var acknowledged = false
            var lastProblem = ""
            for attempt in 0..<2 {
                if attempt == 1 { ledger.state.withLock { $0.detectRetries += 1 } }
                do {
                    let answer = try await send(
                        client, url + "/anomaly/detect", method: .POST, key: .anomalyWriter, bytes: bytes, idempotencyKey: key)
                    if answer.status == .ok {
                        acknowledged = true
                        break
                    }
                    lastProblem = "\(answer.status) \(answer.body.prefix(200))"
                } catch {
                    lastProblem = "\(error)"
                }
            }
            if acknowledged {
                ledger.state.withLock { $0.acknowledged += times.map { "\(asset)|\($0)" } }
            } else {
                ledger.state.withLock { $0.detectFailures.append(lastProblem) }
            }
        }
    }

    // MARK: - Checks

    /// A token issued by replica 1 is accepted by 2 and 3; one signed with the shared secret that
    /// expires is refused by all three afterwards; failed logins spread over the replicas meet one limit.
    static func checkTokensAcrossReplicas(client: HTTPClient, replicas: [ReplicaProcess]) async throws {
        let login = try await send(
            client, replicas[0].url + "/auth/token", method: .POST, key: nil,
            body: ["username": SecuredApp.operatorName, "password": SecuredApp.operatorPassword])
        #expect(login.status == .ok, "login: \(login.body)")
        let token = try #require((try JSONSerialization.jsonObject(with: Data(login.body.utf8)) as? [String: Any])?["access_token"] as? String)
        for replica in replicas {
            let answer = try await send(client, replica.url + "/models/active", method: .GET, bearer: token)
            #expect(answer.status == .ok, "\(replica.name) accepts replica-1's token: \(answer.body.prefix(200))")
        }

        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: SecuredApp.secret), digestAlgorithm: .sha256)
        let now = Date()
        let shortLived = try await keys.sign(
            Authenticator.TokenPayload(
                sub: .init(value: SecuredApp.operatorName), exp: .init(value: now.addingTimeInterval(5)), iat: .init(value: now),
                iss: .init(value: Authenticator.issuer), tenant: "acme", scope: "models:admin"))
        for replica in replicas {
            let before = try await send(client, replica.url + "/models/active", method: .GET, bearer: shortLived)
            #expect(before.status == .ok, "\(replica.name) accepts the token before it expires")
        }
        try await Task.sleep(for: .seconds(max(0, now.addingTimeInterval(6.5).timeIntervalSinceNow)))
        for replica in replicas {
            let after = try await send(client, replica.url + "/models/active", method: .GET, bearer: shortLived)
            #expect(after.status == .unauthorized, "\(replica.name) refuses the expired token: \(after.status)")
        }

        // LOGIN_MAX_FAILURES=5, spread 2 + 2 + 1 over the replicas: the next try is refused everywhere.
        var statuses: [HTTPResponseStatus] = []
        for (k, replica) in [replicas[0], replicas[0], replicas[1], replicas[1], replicas[2]].enumerated() {
            let guess = try await send(
                client, replica.url + "/auth/token", method: .POST, key: nil, body: ["username": "intruder", "password": "guess-\(k)"])
            statuses.append(guess.status)
        }
        #expect(statuses == Array(repeating: .unauthorized, count: 5), "\(statuses)")
        for replica in replicas {
            let locked = try await send(
                client, replica.url + "/auth/token", method: .POST, key: nil, body: ["username": "intruder", "password": "guess-5"])
            #expect(locked.status == .tooManyRequests, "\(replica.name) counts the fleet's failures: \(locked.status)")
        }
    }

    static func checkFleetEndpoint(client: HTTPClient, replicas: [ReplicaProcess], run: String) async throws {
        let answer = try await send(client, replicas[2].url + "/fleet", method: .GET, key: .admin, body: nil)
        #expect(answer.status == .ok, "/fleet: \(answer.body.prefix(300))")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        #expect(object["scope"] as? String == "postgresql")
        let listed = (object["replicas"] as? [[String: Any]]) ?? []
        for replica in replicas {
            let entry = listed.first { $0["id"] as? String == replica.name }
            #expect(entry?["run_id"] as? String == run && entry?["ready"] as? Bool == true, "\(replica.name) in /fleet: \(String(describing: entry))")
        }
        let forbidden = try await send(client, replicas[2].url + "/fleet", method: .GET, key: .predict, body: nil)
        #expect(forbidden.status == .forbidden, "/fleet needs models:admin")
    }

    static func storedSamples(url: String) async throws -> [String] {
        try await FleetDatabase.admin(url: url) { client in
            let rows = try await client.query("SELECT asset_id, timestamp FROM metric_samples WHERE tenant_id = 'acme'")
            var out: [String] = []
            for try await (asset, time) in rows.decode((String, Date).self) {
                out.append("\(asset)|\(ISO8601DateFormatter().string(from: time))")
            }
            return out
        }
    }

    /// The load generator's client: pooled keep-alive connections, enough for every worker.
    static func loadClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(2), read: .seconds(20)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Every replica launched and ready, then nginx in front of them answering.
    static func start(_ replicas: [ReplicaProcess], behind proxy: NginxProxy, client: HTTPClient) async throws {
        for replica in replicas { try replica.launch() }
        for replica in replicas { _ = try await replica.waitUntilReady(client: client) }
        try proxy.launch()
        try await waitForProxy(client: client, port: proxy.port, log: { proxy.errorLog })
    }

    static func waitForProxy(client: HTTPClient, port: Int, log: () -> String) async throws {
        for _ in 0..<200 {
            if let answer = try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(1)),
                answer.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("nginx does not answer: \(log())")
    }

    // MARK: - HTTP

    static func runId(_ body: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return (object["model"] as? [String: Any])?["run_id"] as? String
    }

    static func send(
        _ client: HTTPClient, _ url: String, method: HTTPMethod, key: SecuredApp.Key? = nil, bearer: String? = nil, body: [String: Any]? = nil,
        bytes: Data? = nil, idempotencyKey: String? = nil
    ) async throws -> (status: HTTPResponseStatus, body: String, upstream: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let key { request.headers.add(name: "X-API-Key", value: key.rawValue) }
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let data = try bytes ?? body.map({ try JSONSerialization.data(withJSONObject: $0) }) {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let response = try await client.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let upstream = response.headers.first(name: "X-Upstream")?.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return (response.status, String(buffer: bytes), upstream)
    }
}
