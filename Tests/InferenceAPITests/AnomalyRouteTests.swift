import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

@Suite("EMS anomaly API", .timeLimit(.minutes(5)))
struct AnomalyRouteTests {

    /// The synthetic EMS series of fixtures/anomaly, as samples ending now (5-minute steps).
    static func series(count: Int, offset: Int = 0) throws -> [[String: Any]] {
        let url = TestApp.repoRoot.appendingPathComponent("fixtures/anomaly/ems_series.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        let names = object["feature_names"] as? [String] ?? []
        let rows = object["rows"] as? [[Double]] ?? []
        let end = Date()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (0..<count).map { i in
            let row = rows[(offset + i) % rows.count]
            return [
                "timestamp": formatter.string(from: end.addingTimeInterval(Double(i - count) * 300)),
                "metrics": Dictionary(uniqueKeysWithValues: zip(names, row)),
            ]
        }
    }

    static func json(_ object: [String: Any]) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: ByteBuffer) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(uri: uri, method: .post, headers: TestApp.json, body: body)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
        return (response, object)
    }

    static func get(_ client: some TestClientProtocol, _ uri: String) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(uri: uri, method: .get)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
        return (response, object)
    }

    @Test func testTrainThenDetectUsesTheModelAndPersistsBeforeAnswering() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let trainBody = try Self.json([
            "asset_id": "router-7", "metrics": ["cpu_pct", "memory_pct", "bandwidth_mbps", "latency_ms", "error_count"],
            "samples": try Self.series(count: 600), "n_estimators": 50, "seed": 3, "window": 3,
        ])
        let samples = try Self.series(count: 50, offset: 600)
        let sentTimes = samples.map { $0["timestamp"] as? String ?? "" }
        let detectBody = try Self.json(["asset_id": "router-7", "samples": samples])
        try await app.test(.router) { client in
            let (trained, model) = try await Self.post(client, "/anomaly/train", trainBody)
            #expect(trained.status == .created)
            let modelId = try #require(model["model_id"] as? String)
            #expect(model["n_samples"] as? Int == 600)

            let (detected, answer) = try await Self.post(client, "/anomaly/detect", detectBody)
            #expect(detected.status == .ok)
            #expect(answer["model_id"] as? String == modelId)
            let results = answer["results"] as? [[String: Any]] ?? []
            #expect(results.count == 50)
            #expect(results.map { $0["timestamp"] as? String ?? "" } == sentTimes, "request order")
            // A trained asset's detectors: the forest, the residual, level-shift and flatline detectors.
            #expect(results.allSatisfy { ["isolation_forest", "residual", "level_shift", "flatline"].contains($0["method"] as? String ?? "") })
            #expect(results.allSatisfy { ($0["scores"] as? [String: Double])?.keys.contains("metric.cpu_pct") ?? false }, "each metric's contribution")
            #expect(results.allSatisfy { ($0["score"] as? Double).map { (0...1).contains($0) } ?? false })

            let (history, scores) = try await Self.get(client, "/anomaly/scores/router-7?hours=1000&limit=1000")
            #expect(history.status == .ok)
            #expect(scores["count"] as? Int == 50)
            let (listed, models) = try await Self.get(client, "/anomaly/models?asset_id=router-7")
            #expect(listed.status == .ok)
            #expect((models["models"] as? [[String: Any]])?.first?["status"] as? String == "active")
        }
    }

    @Test func testSecondTrainingRetiresTheFirstModel() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let body = try Self.json(["asset_id": "switch-2", "metrics": ["cpu_pct"], "samples": try Self.series(count: 200), "n_estimators": 10])
        try await app.test(.router) { client in
            for _ in 0..<2 {
                let (response, _) = try await Self.post(client, "/anomaly/train", body)
                #expect(response.status == .created)
            }
            let (_, models) = try await Self.get(client, "/anomaly/models?asset_id=switch-2")
            let statuses = (models["models"] as? [[String: Any]])?.compactMap { $0["status"] as? String }
            #expect(statuses == ["active", "retired"])
        }
    }

    @Test func testTooFewTrainingSamplesIs422() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let request = try Self.json(["asset_id": "a", "metrics": ["cpu_pct"], "samples": try Self.series(count: 99)])
        try await app.test(.router) { client in
            let (response, body) = try await Self.post(client, "/anomaly/train", request)
            #expect(response.status == .unprocessableContent)
            #expect((body["error"] as? [String: Any])?["code"] as? String == "not_enough_samples")
        }
    }

    /// `/anomaly/samples` reads a range: `from`/`to` once fell back to the last 24 hours, so a range
    /// holding 150 samples of 2026-11 answered none.
    @Test func testSamplesInARange() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let start = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18
        let samples: [[String: Any]] = (0..<150).map { i in
            ["timestamp": ISO8601.format(start.addingTimeInterval(Double(i) * 60)), "metrics": ["cpu": 20 + Double(i % 7)]]
        }
        let request = try Self.json(["asset_id": "ranged-1", "samples": samples, "persist": true])
        try await app.test(.router) { client in
            let (stored, _) = try await Self.post(client, "/anomaly/detect", request)
            #expect(stored.status == .ok)
            let from = ISO8601.format(start), to = ISO8601.format(start.addingTimeInterval(150 * 60))
            let (all, answer) = try await Self.get(client, "/anomaly/samples/ranged-1?from=\(from)&to=\(to)")
            #expect(all.status == .ok && answer["count"] as? Int == 150, "\(answer)")
            let rows = answer["samples"] as? [[String: Any]] ?? []
            #expect(rows.first?["timestamp"] as? String == from, "oldest first")
            // `to` is exclusive, `limit` takes the first of the range.
            let middle = ISO8601.format(start.addingTimeInterval(100 * 60))
            let (_, part) = try await Self.get(client, "/anomaly/samples/ranged-1?from=\(middle)&limit=20")
            let partRows = part["samples"] as? [[String: Any]] ?? []
            #expect(part["count"] as? Int == 20 && partRows.first?["timestamp"] as? String == middle, "\(part)")
            let (_, upTo) = try await Self.get(client, "/anomaly/samples/ranged-1?to=\(middle)")
            #expect(upTo["count"] as? Int == 100, "\(upTo)")
            let (both, _) = try await Self.get(client, "/anomaly/samples/ranged-1?from=\(from)&hours=5")
            #expect(both.status == .badRequest)
            let (recent, _) = try await Self.get(client, "/anomaly/samples/ranged-1")
            #expect(recent.status == .ok)
        }
    }

    @Test func testWithoutAModelStatisticalFallbacksScore() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let request = try Self.json(["asset_id": "fresh-1", "samples": try Self.series(count: 40), "persist": false])
        try await app.test(.router) { client in
            let (response, answer) = try await Self.post(client, "/anomaly/detect", request)
            #expect(response.status == .ok)
            #expect(answer["model_id"] is NSNull || answer["model_id"] == nil)
            let methods = Set((answer["results"] as? [[String: Any]] ?? []).compactMap { $0["method"] as? String })
            #expect(methods.isSubset(of: ["zscore", "mad", "iqr", "flatline"]) && !methods.isEmpty)
            let (_, scores) = try await Self.get(client, "/anomaly/scores/fresh-1?hours=1000")
            #expect(scores["count"] as? Int == 0, "persist: false writes nothing")
        }
    }

    @Test(arguments: [
        (#"{"asset_id": "a", "samples": []}"#, "samples"),
        (#"{"asset_id": "a b", "samples": [{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu": 1}}]}"#, "asset_id"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "yesterday", "metrics": {"cpu": 1}}]}"#, "timestamp"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu": "high"}}]}"#, "metrics.cpu"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu": true}}]}"#, "metrics.cpu"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "2026-11-22T10:00:00Z"}]}"#, "metrics"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu": 1}}], "persist": "yes"}"#, "persist"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu": 1}, "extra": 1}]}"#, "extra"),
        (#"{"asset_id": "a", "samples": [{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu": 1}}], "persits": true}"#, "persits"),
    ])
    func testDetectValidationNamesTheField(body: String, field: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let (response, answer) = try await Self.post(client, "/anomaly/detect", ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            let details = ((answer["error"] as? [String: Any])?["details"] as? [[String: Any]]) ?? []
            #expect(details.contains { $0["field"] as? String == field }, "\(details)")
        }
    }

    @Test func testScoresQueryValidation() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            for uri in ["/anomaly/scores/a?hours=-1", "/anomaly/scores/a?limit=0", "/anomaly/scores/a?anomalies_only=maybe", "/anomaly/models?asset_id=a%20b"] {
                let (response, _) = try await Self.get(client, uri)
                #expect(response.status == .badRequest, "\(uri)")
            }
        }
    }

    /// A detect of 10,000 samples with persist leaves exactly the acknowledged rows.
    static func checkTenThousand(_ configuration: Configuration) async throws {
        let app = try await buildApplication(configuration: configuration)
        let asset = "bulk-\(UUID().uuidString.prefix(8))"
        let body = try Self.json(["asset_id": asset, "samples": try Self.series(count: 10_000), "persist": true])
        // `.router`: this is about what is stored, and the live client's fixed 20 s read timeout
        // was reached by a 10,000-sample commit on a machine busy with the parallel suites.
        try await app.test(.router) { client in
            let (response, answer) = try await Self.post(client, "/anomaly/detect", body)
            #expect(response.status == .ok)
            #expect((answer["results"] as? [Any])?.count == 10_000)
            let (_, scores) = try await Self.get(client, "/anomaly/scores/\(asset)?hours=10000&limit=10000")
            #expect(scores["count"] as? Int == 10_000)
        }
    }

    @Test func testTenThousandSamplesPersistExactlyInSQLite() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.checkTenThousand(TestApp.configuration { $0.sqlitePath = directory.appendingPathComponent("db.sqlite").path })
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testTenThousandSamplesPersistExactlyInPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        try await Self.checkTenThousand(TestApp.configuration { $0.databaseURL = url })
    }
}
