import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `TASK_EXECUTOR=event-loops` (the default) in the real process: the only place the runtime's
/// global executor can be replaced.
@Suite("Event-loop executor")
struct EventLoopExecutorTests {
    /// A 1-reading `/predict` hands the event loops about one job (the resumption when its bytes
    /// arrive), not one per `await` of the middleware chain: the way NIO's own takeover runs
    /// jobs, it was 100 per request, and the 1-reading req/s 20 % lower (`make bench-compare`).
    @Test(.timeLimit(.minutes(2)))
    func testAPredictionIsNotAHopPerAwait() async throws {
        let server = try await ServerProcess()
        let vector = try TestApp.servedVector()
        let body = try JSONSerialization.data(withJSONObject: ["readings": [vector.readings[0]]])
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(server.port)/predict")))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let session = URLSession(configuration: .ephemeral)
        func predict() async throws {
            let (_, response) = try await session.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
        }
        for _ in 0..<20 { try await predict() }  // the connection open, every route's series made

        let requests = 300
        let before = try #require(Self.jobs(in: await server.get("/metrics")))
        for _ in 0..<requests { try await predict() }
        let after = try #require(Self.jobs(in: await server.get("/metrics")))
        let perRequest = Double(after - before) / Double(requests)
        #expect(perRequest > 0, "the executor counts the jobs it runs (\(after - before) in \(requests) requests)")
        #expect(perRequest < 10, "about one job per request, not one per await: \(perRequest)")
    }

    /// `event_loop_jobs_total`'s value in a Prometheus exposition.
    static func jobs(in metrics: String) -> Int? {
        metrics.split(separator: "\n").first { $0.hasPrefix("event_loop_jobs_total ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) }
    }
}
