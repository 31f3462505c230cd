import AsyncHTTPClient
import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import NIOCore
import Storage
import Testing

/// 100,000 random and extreme cursors and query values (`QueryFuzzing`: Int64 bounds, huge and
/// negative times, wrong field counts, bad base64, NaN and infinity as text, very long values)
/// to every route that takes them, against one live process per backend, from four clients at
/// once: every answer is a 2xx or a 4xx, and the process still answers afterwards. A trap in
/// any parser or store conversion ends the process, and the test with it. On a debug build it
/// is slow (client and server share the test process, both unoptimized): on two cores with a
/// release build beside it, 100,000 took 281 s on SQLite and 227 s on PostgreSQL, each run
/// alone; beside other suites PostgreSQL took over 600 s. `QUERY_FUZZ_INPUTS` sets the count.
@Suite("Query fuzzing, live", .serialized, .timeLimit(.minutes(30)))
struct QueryFuzzLiveTests {
    static let inputs = Int(ProcessInfo.processInfo.environment["QUERY_FUZZ_INPUTS"] ?? "") ?? 100_000
    static let clients = 4

    struct Tally: Sendable {
        var statuses: [Int: Int] = [:]
        var unexpected: [String] = []
        var failures: [String] = []
    }

    static func check(_ configuration: Configuration, backend: String) async throws {
        var configuration = configuration
        configuration.rateLimitPerMinute = 100_000_000  // the test sends far more than a client would
        let app = try await buildApplication(configuration: configuration)
        let asset = "fuzz-\(UUID().uuidString.prefix(8))"
        try await app.test(.live) { client in
            // Stored rows and an episode, so well-formed cursors name real positions.
            let samples = (0..<60).map { i -> [String: Any] in
                ["timestamp": ISO8601.format(Date(timeIntervalSince1970: 1_796_272_236 + Double(i) * 60)), "metrics": ["cpu": i % 20 > 15 ? 99.0 : 20.0]]
            }
            let (stored, _) = try await AnomalyRouteTests.post(client, "/anomaly/detect", try AnomalyRouteTests.json(["asset_id": asset, "samples": samples]))
            #expect(stored.status == .ok)
            let port = try #require(client.port)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let started = ContinuousClock.now
            let seed = UInt64(Date().timeIntervalSince1970)
            let result = await withTaskGroup(of: Tally.self) { group in
                for worker in 0..<clients {
                    group.addTask {
                        var tally = Tally()
                        var random = SplitMix64(seed: seed &+ UInt64(worker))
                        for _ in 0..<(inputs / clients + (worker < inputs % clients ? 1 : 0)) {
                            let uri = QueryFuzzing.input(asset: asset, using: &random)
                            do {
                                let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(uri)"), timeout: .seconds(30))
                                let status = Int(response.status.code)
                                _ = try await response.body.collect(upTo: 64 << 20)
                                tally.statuses[status, default: 0] += 1
                                if !(200..<300).contains(status) && !(400..<500).contains(status), tally.unexpected.count < 20 {
                                    tally.unexpected.append("\(status) \(uri.prefix(300))")
                                }
                            } catch {
                                if tally.failures.count < 20 { tally.failures.append("\(error) \(uri.prefix(300))") }
                            }
                        }
                        return tally
                    }
                }
                var all = Tally()
                for await part in group {
                    all.statuses.merge(part.statuses, uniquingKeysWith: +)
                    all.unexpected += part.unexpected
                    all.failures += part.failures
                }
                return all
            }
            let elapsed = ContinuousClock.now - started
            // The same process still answers (on a new connection: the test client's own one
            // has idled past the server's timeout meanwhile).
            let after = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/anomaly/scores/\(asset)?hours=87600"), timeout: .seconds(30))
            let afterBody = try? await after?.body.collect(upTo: 1 << 20)
            try await http.shutdown()
            let answered = result.statuses.values.reduce(0, +)
            print(
                "Query fuzzing (\(backend), seed \(seed)): \(answered) of \(inputs) inputs answered in \(elapsed) by \(clients) clients;"
                    + " statuses \(result.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))")
            #expect(answered == inputs && result.failures.isEmpty, "\(backend): \(result.failures)")
            #expect(result.unexpected.isEmpty, "\(backend): answers neither 2xx nor 4xx: \(result.unexpected)")
            #expect((result.statuses[200] ?? 0) > inputs / 20, "\(backend): enough inputs reach the stores: \(result.statuses)")
            let answer = afterBody.flatMap { try? JSONSerialization.jsonObject(with: Data(buffer: $0)) as? [String: Any] } ?? [:]
            #expect(after?.status == .ok && answer["count"] as? Int == 60, "\(backend): still answering after the fuzzing: \(answer)")
        }
    }

    @Test func testHostileQueriesOnSQLite() async throws {
        let directory = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.check(TestApp.configuration { $0.sqlitePath = directory.appendingPathComponent("db.sqlite").path }, backend: "SQLite")
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testHostileQueriesOnPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        try await Self.check(TestApp.configuration {
            $0.databaseURL = url
            $0.storeTimeoutSeconds = 60
        }, backend: "PostgreSQL")
    }
}
