import Foundation
import Testing

/// Clients that send too much, too slowly or too often, against the real server
/// (Tests/Hostile/hostile_clients.py drives the sockets). Each test prints its figures.
@Suite("Hostile clients", .serialized, .timeLimit(.minutes(5)))
struct HostileClientTests {
    /// 20 MB and 110 MB bodies sent whole before the client reads: the 413 envelope arrives
    /// within 5 s whether or not the request says `Connection: close`, memory stays bounded, and
    /// the server keeps answering.
    @Test func testOversizedBodiesGet413WithoutHangingTheClient() async throws {
        let server = try await ServerProcess()
        let before = server.memoryMB
        let report = try server.hostileClients(["oversized"])
        let after = server.memoryMB
        let results = report["results"] as? [[String: Any]] ?? []
        #expect(results.count == 8)
        for result in results {
            let what = "\(result["megabytes"] ?? "?") MB to \(result["path"] ?? "?"), close \(result["connection_close"] ?? "?")"
            #expect(result["status"] as? Int == 413, "\(what): \(result)")
            #expect(result["code"] as? String == "payload_too_large", "\(what): the JSON envelope")
            #expect((result["seconds"] as? Double ?? 99) < 5, "\(what): answered in \(result["seconds"] ?? "?") s")
            #expect(result["sent_all"] as? Bool == true, "\(what): the client was never blocked sending")
        }
        #expect(report["health_after"] as? Int == 200)
        #expect(after.peak < 100, "peak RSS \(after.peak) MB")
        print("oversized bodies: \(results.map { "\($0["megabytes"]!) MB \($0["path"]!) close=\($0["connection_close"]!): \($0["status"]!) in \($0["seconds"]!) s" }.joined(separator: "; "))")
        print("oversized bodies: server RSS \(before.rss) MB before, \(after.rss) MB after, peak \(after.peak) MB")
    }

    /// 200 slowloris connections and 1,000 idle keep-alive connections while a normal client posts
    /// /predict: its p99 stays under 50 ms, and the server closes every slow and idle connection
    /// after its timeout, counting them in /metrics.
    @Test func testSlowAndIdleClientsAreClosedAndDoNotStopOthers() async throws {
        let server = try await ServerProcess(environment: ["REQUEST_HEADER_TIMEOUT_SECONDS": "3", "IDLE_TIMEOUT_SECONDS": "5"])
        let vector = try TestApp.servedVector()
        let body = server.directory.appendingPathComponent("predict.json")
        try JSONSerialization.data(withJSONObject: ["readings": Array(vector.readings.prefix(1))]).write(to: body)
        let report = try server.hostileClients(["slow", "200", "1000", "10", body.path])
        let closed = report["closed_by_server"] as? [String: Int] ?? [:]
        let opened = report["opened"] as? [String: Int] ?? [:]
        #expect(opened == ["slow": 200, "idle": 1000], "every connection was accepted: \(opened)")
        #expect(closed == ["slow": 200, "idle": 1000], "every slow and idle connection was closed by the server: \(closed)")
        #expect(report["errors"] as? Int == 0)
        #expect((report["requests"] as? Int ?? 0) > 100)
        #expect((report["p99_ms"] as? Double ?? 999) < 50, "p99 \(report["p99_ms"] ?? "?") ms")
        let metrics = await server.get("/metrics")
        #expect(metrics.contains(#"http_connections_closed_total{reason="header_timeout"} 200"#), "slow heads counted")
        #expect(metrics.contains(#"http_connections_closed_total{reason="idle_timeout"} 1000"#), "idle connections counted")
        print("slow and idle clients: \(report["requests"] ?? 0) /predict, p50 \(report["p50_ms"] ?? "?") ms, p99 \(report["p99_ms"] ?? "?") ms, max \(report["max_ms"] ?? "?") ms, errors \(report["errors"] ?? "?"); closed by the server: \(closed)")
    }

    /// Past MAX_CONNECTIONS, new connections are closed at once (and counted); the server
    /// answers again once they are gone.
    @Test func testConnectionsPastTheCapAreClosedAtOnce() async throws {
        let server = try await ServerProcess(environment: ["MAX_CONNECTIONS": "50"])
        let report = try server.hostileClients(["flood", "80"])
        #expect(report["closed_at_once"] as? Int == 30, "\(report)")
        #expect(report["health_after"] as? Int == 200)
        let metrics = await server.get("/metrics")
        #expect(metrics.contains(#"http_connections_closed_total{reason="over_capacity"} 30"#))
        print("connection cap 50: 80 opened, \(report["closed_at_once"] ?? "?") closed at once")
    }
}
