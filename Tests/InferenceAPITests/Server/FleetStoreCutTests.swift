import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import InferenceAPI

#if canImport(Glibc)
import Glibc
#endif

/// `Tests/Hostile/tcp_relay.py`: a relay between one replica and PostgreSQL that the test cuts
/// (the port refuses, open connections are reset, as when a database host goes away) and restores.
final class StoreRelay: @unchecked Sendable {
    let port: Int
    private let process = Process()

    init(targetURL: String) throws {
        guard let target = URLComponents(string: targetURL), let host = target.host, let targetPort = target.port else {
            throw TestFailure("bad database URL")
        }
        port = try freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestApp.repoRoot.appendingPathComponent("Tests/Hostile/tcp_relay.py").path, String(port), host, String(targetPort)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !Self.accepts(port), Date() < deadline { usleep(20_000) }
        guard Self.accepts(port) else { throw TestFailure("the relay did not listen on \(port)") }
    }

    /// `url` with its host and port replaced by the relay's.
    func relayed(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.host = "127.0.0.1"
        components.port = port
        return components.string ?? url
    }

    func cut() { kill(process.processIdentifier, SIGUSR1) }
    func restore() { kill(process.processIdentifier, SIGUSR2) }
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        await stopWaiting(process)
    }

    /// Whether a connection to the port is accepted now.
    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

extension FleetTests {
    /// What the cut-off replica said and did, on the load's timeline.
    final class CutTimeline: Sendable {
        struct State {
            var cutAt: Double?
            var readyDuringCut: String?
            var detectDuringCut: (status: UInt, retryAfter: String?, seconds: Double)?
            var activatedAt: Double?
            var restoredAt: Double?
            var catchUpSeconds: Double?
            var readyAgainSeconds: Double?
        }
        let state = Mutex(State())
    }

    /// Issue 24 item 8: under `/predict` load through nginx, replica 3 loses PostgreSQL for 10 s
    /// (a relay between them is cut) while replicas 1 and 2 keep it. No `/predict` fails; replica
    /// 3's detect answers 503 with `Retry-After`, its `/ready` names the store; a model activated
    /// through replica 1 meanwhile is served by replica 3 soon after the relay is back, by itself.
    @Test func testAReplicaCutOffFromPostgreSQLKeepsPredictingAndCatchesUp() async throws {
        let baseURL = try #require(TestApp.postgresURL, "TEST_DATABASE_URL is not set")
        try #require(FileManager.default.isExecutableFile(atPath: ServerProcess.executable.path), "build the executable first")
        try #require(NginxProxy.binary != nil, "nginx is not installed (make test installs it)")
        let champion = try TestApp.servedVector()
        let baseline = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != champion.run_id }, "a second run in mlruns/")
        let vectors = [champion.run_id: champion, baseline.run_id: baseline]

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-cut-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try await FleetDatabase.create(url: baseURL)
        let relay = try StoreRelay(targetURL: database.url)
        defer { Task { await relay.stop() } }  // a failed test's; the end of the test stops it too

        let environment: [String: String] = SecuredApp.environment.merging([
            "DATABASE_URL": database.url, "HOST": "127.0.0.1", "MLRUNS_DIR": TestApp.repoRoot.appendingPathComponent("mlruns").path,
            "BEST_MLFLOW_RUN_ID": champion.run_id, "FLEET_POLL_SECONDS": "2", "STORE_TIMEOUT_SECONDS": "2", "LOG_FORMAT": "json",
            "LOG_LEVEL": "notice", "RATE_LIMIT_PER_MINUTE": "100000000", "PATH": "/usr/bin:/bin",
        ]) { _, new in new }
        let direct = try (1...2).map { ReplicaProcess(name: "replica-\($0)", port: try freeLoopbackPort(), environment: environment, directory: directory) }
        let cutOff = ReplicaProcess(
            name: "replica-3", port: try freeLoopbackPort(), environment: environment.merging(["DATABASE_URL": relay.relayed(database.url)]) { _, new in new },
            directory: directory)
        let replicas = direct + [cutOff]
        let proxy = try NginxProxy(port: try freeLoopbackPort(), upstreams: replicas.map(\.port), directory: directory)
        let client = Self.loadClient()
        defer {
            Task {
                for replica in replicas { await replica.stop() }
                await proxy.stop()
            }
        }

        try await Self.start(replicas, behind: proxy, client: client)

        let ledger = Ledger()
        let clock = Date()
        let elapsed: @Sendable () -> Double = { Date().timeIntervalSince(clock) }
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        let timeline = CutTimeline()
        let loadSeconds = 26.0
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<Self.predictWorkers {
                    group.addTask {
                        try await Self.predictLoad(
                            worker: worker, client: client, url: proxyURL, readings: champion.readings, vectors: vectors, ledger: ledger,
                            elapsed: elapsed, seconds: loadSeconds)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(4))
                    relay.cut()
                    timeline.state.withLock { $0.cutAt = elapsed() }
                    // /ready names the store once a probe finds it gone (each probe waits at most STORE_TIMEOUT_SECONDS).
                    var ready = ""
                    while elapsed() < 12 {
                        ready = try await Self.send(client, cutOff.url + "/ready", method: .GET).body
                        if ready.contains("\"store_reachable\":false") { break }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    let started = Date()
                    var request = HTTPClientRequest(url: cutOff.url + "/anomaly/detect")
                    request.method = .POST
                    request.headers.add(name: "X-API-Key", value: SecuredApp.Key.anomalyWriter.rawValue)
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(
                        ByteBuffer(string: #"{"asset_id":"cut-asset","samples":[{"timestamp":"2026-12-01T00:00:00Z","metrics":{"cpu":40}}]}"#))
                    let response = try await client.execute(request, timeout: .seconds(20))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    let detect = (response.status.code, response.headers.first(name: "Retry-After"), Date().timeIntervalSince(started))
                    timeline.state.withLock {
                        $0.readyDuringCut = ready
                        $0.detectDuringCut = detect
                    }
                    // The fleet moves on without replica 3.
                    try await Task.sleep(for: .seconds(max(0, 7 - elapsed())))
                    let activation = try await Self.send(
                        client, replicas[0].url + "/models/activate", method: .POST, key: .fleetAdmin, body: ["run_id": baseline.run_id])
                    #expect(activation.status == .ok, "activation through replica 1: \(activation.body)")
                    timeline.state.withLock { $0.activatedAt = elapsed() }

                    try await Task.sleep(for: .seconds(max(0, 14 - elapsed())))
                    relay.restore()
                    let restored = elapsed()
                    timeline.state.withLock { $0.restoredAt = restored }
                    var caughtUp: Double?
                    var readyAgain: Double?
                    while elapsed() - restored < 20, caughtUp == nil || readyAgain == nil {
                        if caughtUp == nil {
                            let probe = try await Self.send(
                                client, cutOff.url + "/predict", method: .POST, key: .predict, body: ["readings": [champion.readings[0]]])
                            if Self.runId(probe.body) == baseline.run_id { caughtUp = elapsed() - restored }
                        }
                        if readyAgain == nil, try await Self.send(client, cutOff.url + "/ready", method: .GET).body.contains("\"store_reachable\":true") {
                            readyAgain = elapsed() - restored
                        }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    timeline.state.withLock {
                        $0.catchUpSeconds = caughtUp
                        $0.readyAgainSeconds = readyAgain
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()

        let seen = timeline.state.withLock { $0 }
        let result = ledger.state.withLock { $0 }
        let cutWindow = (seen.cutAt ?? 0)...(seen.restoredAt ?? 0)
        let fromCutOff = result.answers.filter { cutWindow.contains($0.started) && $0.upstream.hasSuffix(":\(cutOff.port)") }.count
        print(
            """
            fleet cut: /predict answers \(result.predictCount) (\(fromCutOff) by replica 3 while cut off), client-visible /predict errors \(result.predictFailures.count)
            fleet cut: replica 3 detect while cut off: \(seen.detectDuringCut.map { "\($0.status), Retry-After \($0.retryAfter ?? "none"), \(String(format: "%.2f", $0.seconds)) s" } ?? "not sent")
            fleet cut: replica 3 /ready while cut off: \(seen.readyDuringCut ?? "")
            fleet cut: after the relay was back, replica 3 served the run activated meanwhile in \(seen.catchUpSeconds.map { String(format: "%.2f", $0) } ?? "never") s, /ready store_reachable in \(seen.readyAgainSeconds.map { String(format: "%.2f", $0) } ?? "never") s
            """)
        #expect(result.predictFailures.isEmpty, "no failed /predict: \(result.predictFailures.prefix(5))")
        #expect(result.wrongProbabilities.isEmpty, "probabilities equal the named run's vectors: \(result.wrongProbabilities.prefix(5))")
        #expect(fromCutOff > 0, "replica 3 kept answering /predict while cut off")
        #expect(seen.detectDuringCut?.status == 503 && seen.detectDuringCut?.retryAfter != nil, "detect: \(String(describing: seen.detectDuringCut))")
        let ready = seen.readyDuringCut ?? ""
        #expect(ready.contains("\"status\":\"degraded\"") && ready.contains("store: the postgresql store is not reachable"), "/ready: \(ready)")
        #expect((seen.catchUpSeconds ?? .infinity) <= 10, "replica 3 serves the fleet's run after the cut: \(String(describing: seen.catchUpSeconds))")
        #expect((seen.readyAgainSeconds ?? .infinity) <= 10, "replica 3's store reachable again: \(String(describing: seen.readyAgainSeconds))")
        for replica in replicas { await replica.stop() }
        await proxy.stop()
        await relay.stop()
        try await FleetDatabase.drop(url: baseURL, name: database.name)
    }
}
