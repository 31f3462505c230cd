import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import InferenceAPI

/// Three real replicas on one throwaway PostgreSQL: a canary started through one replica runs on
/// every replica within 2 s, the status sums every replica's counters, a replica started later
/// joins the running experiment, and an end through another replica reaches all of them.
@Suite("Challenger across the fleet", .timeLimit(.minutes(5)), .enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
struct ChallengerFleetTests {
    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test func testAnExperimentStartedThroughOneReplicaRunsOnAllAndCountsSum() async throws {
        let baseURL = try #require(TestApp.postgresURL, "TEST_DATABASE_URL is not set")
        try #require(FileManager.default.isExecutableFile(atPath: ServerProcess.executable.path), "build the executable first")
        let champion = try TestApp.servedVector()
        let challenger = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != champion.run_id })

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("challenger-fleet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try await FleetDatabase.create(url: baseURL)
        let environment: [String: String] = SecuredApp.environment.merging([
            "DATABASE_URL": database.url, "HOST": "127.0.0.1", "MLRUNS_DIR": TestApp.repoRoot.appendingPathComponent("mlruns").path,
            "BEST_MLFLOW_RUN_ID": champion.run_id, "FLEET_POLL_SECONDS": "5", "LOG_FORMAT": "json", "LOG_LEVEL": "notice",
            "RATE_LIMIT_PER_MINUTE": "100000000", "PATH": "/usr/bin:/bin",
        ]) { _, new in new }
        let replicas = try (1...3).map { ReplicaProcess(name: "replica-\($0)", port: try freeLoopbackPort(), environment: environment, directory: directory) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await Self.run(client: client, replicas: replicas, champion: champion, challenger: challenger)
        } catch {
            try? await client.shutdown()
            for replica in replicas { await replica.stop() }
            throw error
        }
        try await client.shutdown()
        for replica in replicas { await replica.stop() }
        try await FleetDatabase.drop(url: baseURL, name: database.name)
    }

    static func run(client: HTTPClient, replicas: [ReplicaProcess], champion: TestApp.Vector, challenger: TestApp.Vector) async throws {
        for replica in replicas { try replica.launch() }
        for replica in replicas { _ = try await replica.waitUntilReady(client: client) }

        let started = try await FleetTests.send(
            client, replicas[0].url + "/models/challenger", method: .POST, key: .fleetAdmin,
            body: ["run_id": challenger.run_id, "mode": "canary", "percent": 50])
        #expect(started.status == .created, "\(started.body)")
        let version = json(started.body)["version"] as? Int
        let clock = ContinuousClock.now
        var converged: [String: Double] = [:]
        while converged.count < replicas.count, ContinuousClock.now - clock < .seconds(10) {
            for replica in replicas where converged[replica.name] == nil {
                let answer = try await FleetTests.send(client, replica.url + "/models/challenger", method: .GET, key: .fleetAdmin)
                if answer.status == .ok, json(answer.body)["version"] as? Int == version {
                    let elapsed = ContinuousClock.now - clock
                    converged[replica.name] = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(converged.count == 3 && converged.values.allSatisfy { $0 <= 2 }, "running on every replica within 2 s: \(converged)")

        // Readings with module ids through every replica; the client counts each run's answers.
        var counted = [champion.run_id: 0, challenger.run_id: 0]
        var runOfModule: [String: String] = [:]
        var split = 0
        for (r, replica) in replicas.enumerated() {
            for request in 0..<10 {
                let readings: [[String: Any]] = (0..<10).map { k in
                    let i = (request * 10 + k + r * 7) % 200
                    var reading: [String: Any] = champion.readings[i]
                    reading["module_id"] = "module-\(i % 60)"
                    return reading
                }
                let answer = try await FleetTests.send(client, replica.url + "/predict", method: .POST, key: .predict, body: ["readings": readings])
                #expect(answer.status == .ok)
                for prediction in json(answer.body)["predictions"] as? [[String: Any]] ?? [] {
                    guard let run = prediction["run_id"] as? String, let module = prediction["module_id"] as? String else { continue }
                    counted[run, default: 0] += 1
                    if let seen = runOfModule[module], seen != run { split += 1 }
                    runOfModule[module] = run
                }
            }
        }
        #expect(split == 0, "a module is answered by one run on every replica")
        #expect(counted.values.reduce(0, +) == 300)
        // Each replica writes its counters every second: the status sums them.
        var routed: [String: Int] = [:]
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let answer = try await FleetTests.send(client, replicas[2].url + "/models/challenger", method: .GET, key: .fleetAdmin)
            routed = json(answer.body)["routed"] as? [String: Int] ?? [:]
            if routed["champion"] == counted[champion.run_id] && routed["challenger"] == counted[challenger.run_id] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(routed["champion"] == counted[champion.run_id] && routed["challenger"] == counted[challenger.run_id], "\(routed) vs \(counted)")

        // A replica started later joins the running experiment.
        await replicas[2].stop()
        try replicas[2].launch()
        _ = try await replicas[2].waitUntilReady(client: client)
        let joined = try await FleetTests.send(client, replicas[2].url + "/models/challenger", method: .GET, key: .fleetAdmin)
        #expect(joined.status == .ok && json(joined.body)["version"] as? Int == version, "\(joined.body)")

        // Ended through another replica: gone everywhere within 2 s.
        let ended = try await FleetTests.send(client, replicas[1].url + "/models/challenger", method: .DELETE, key: .fleetAdmin)
        #expect(ended.status == .noContent)
        let endClock = ContinuousClock.now
        var gone = Set<String>()
        while gone.count < replicas.count, ContinuousClock.now - endClock < .seconds(10) {
            for replica in replicas where !gone.contains(replica.name) {
                if try await FleetTests.send(client, replica.url + "/models/challenger", method: .GET, key: .fleetAdmin).status == .notFound {
                    gone.insert(replica.name)
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let endSeconds = Double((ContinuousClock.now - endClock).components.attoseconds) / 1e18 + Double((ContinuousClock.now - endClock).components.seconds)
        #expect(gone.count == 3 && endSeconds <= 2.5, "ended on every replica: \(gone) after \(endSeconds) s")
        print(
            "challenger fleet: running on all 3 replicas after \(converged.values.max() ?? -1) s; routed summed \(routed) = client counts \(counted);"
                + " restarted replica joined version \(version ?? -1); ended everywhere within \(endSeconds) s")
    }
}
