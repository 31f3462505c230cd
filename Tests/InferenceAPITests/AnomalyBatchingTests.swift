import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// A sample's score depends on the asset's history before it and on itself only: a series posted
/// in one batch, in batches of 10 or one by one (with `persist`, so each call's history is the
/// samples sent before) is scored identically, with and without a trained model, on SQLite and
/// PostgreSQL. Before, 150 samples of noise were flagged 47, 21 or 14 times depending on batching.
@Suite("Scores independent of batching", .timeLimit(.minutes(10)))
struct AnomalyBatchingTests {
    /// The EMS fixture series at fixed times (so `hours` windows do not move), with a spike.
    static func series(_ range: Range<Int>) throws -> [[String: Any]] {
        let url = TestApp.repoRoot.appendingPathComponent("fixtures/anomaly/ems_series.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        let names = object["feature_names"] as? [String] ?? []
        let rows = object["rows"] as? [[Double]] ?? []
        let start = Date(timeIntervalSince1970: 1_793_000_000)
        return range.map { i in
            var metrics = Dictionary(uniqueKeysWithValues: zip(names, rows[i % rows.count]))
            if i % 97 == 50, let first = names.first { metrics[first] = (metrics[first] ?? 0) * 4 + 50 }
            return ["timestamp": ISO8601.format(start.addingTimeInterval(Double(i) * 300)), "metrics": metrics]
        }
    }

    /// What a detect answered per sample: everything but the timestamp's formatting.
    static func results(_ answer: [String: Any]) -> [String] {
        (answer["results"] as? [[String: Any]] ?? []).map { r in
            "\(r["timestamp"] ?? "") \(r["score"] ?? "") \((r["is_anomaly"] as? Bool).map(String.init) ?? "-") \(r["method"] ?? "") \(r["metric"] ?? "-")"
        }
    }

    static func detect(_ client: some TestClientProtocol, _ asset: String, _ samples: [[String: Any]], batch: Int) async throws -> [String] {
        var out: [String] = []
        for start in stride(from: 0, to: samples.count, by: batch) {
            let body = try AnomalyRouteTests.json(["asset_id": asset, "samples": Array(samples[start..<min(samples.count, start + batch)]), "persist": true])
            let (response, answer) = try await AnomalyRouteTests.post(client, "/anomaly/detect", body)
            #expect(response.status == .ok, "\(answer)")
            out += results(answer)
        }
        return out
    }

    static func check(_ configuration: Configuration) async throws {
        let app = try await buildApplication(configuration: configuration)
        let run = UUID().uuidString.prefix(8)
        try await app.test(.router) { client in
            // Without a model: 260 samples from the first on (t, then the fitted tail, then flatline).
            let fresh = try series(0..<260)
            var answers: [Int: [String]] = [:]
            for batch in [260, 10, 1] { answers[batch] = try await detect(client, "fresh-\(run)-\(batch)", fresh, batch: batch) }
            #expect(answers[260]?.count == 260)
            #expect(answers[10] == answers[260] && answers[1] == answers[260], "untrained: the answers differ with batching")
            let flagged = answers[260]?.filter { $0.contains(" true ") }.count ?? 0
            #expect(flagged >= 2, "the spikes at 50 and 147 at least")
            print("untrained, 260 samples: \(flagged) flagged whatever the batching")
            for i in [50, 147, 244] { print("untrained sample \(i): \(answers[260]?[i] ?? "-")") }

            // With a trained model: the same history and model, then 60 samples three ways.
            let history = try series(0..<300), later = try series(300..<360)
            answers = [:]
            for batch in [60, 10, 1] {
                let asset = "trained-\(run)-\(batch)"
                _ = try await detect(client, asset, history, batch: 300)
                let train = try AnomalyRouteTests.json([
                    "asset_id": asset, "metrics": ["cpu_pct", "memory_pct", "bandwidth_mbps", "latency_ms", "error_count"], "n_estimators": 50,
                    "seed": 3, "window": 3,
                ])
                let (trained, model) = try await AnomalyRouteTests.post(client, "/anomaly/train", train)
                #expect(trained.status == .created, "\(model)")
                answers[batch] = try await detect(client, asset, later, batch: batch)
            }
            #expect(answers[60]?.count == 60)
            #expect(answers[10] == answers[60] && answers[1] == answers[60], "trained: the answers differ with batching")
        }
    }

    @Test func testBatchingDoesNotChangeScoresInSQLite() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("batching-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.check(TestApp.configuration { $0.sqlitePath = directory.appendingPathComponent("db.sqlite").path })
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testBatchingDoesNotChangeScoresInPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        try await Self.check(TestApp.configuration { $0.databaseURL = url })
    }
}
