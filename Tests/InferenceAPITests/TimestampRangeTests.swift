import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Storage
import Testing

/// One accepted range of times, years 1970-9999 UTC after the offset. A sample at
/// `9999-12-31T23:59:59-23:59` was stored as year 10000, which the SQLite store could not read:
/// with 1,201 rows the JSON page held 1,000 with no `next`, the NDJSON stream 999. Now it is a
/// 400 naming the sample, and every stored row reads back, to the last second of 9999.
@Suite("Accepted timestamps", .timeLimit(.minutes(5)))
struct TimestampRangeTests {
    static func check(_ configuration: Configuration) async throws {
        let app = try await buildApplication(configuration: configuration)
        let asset = "years-\(UUID().uuidString.prefix(8))"
        try await app.test(.live) { client in
            var samples: [[String: Any]] = (0..<1200).map {
                ["timestamp": ISO8601.format(Date(timeIntervalSince1970: 1_796_272_236 + Double($0) * 60)), "metrics": ["cpu": Double($0 % 7)]]
            }
            var late = samples
            late.insert(["timestamp": "9999-12-31T23:59:59-23:59", "metrics": ["cpu": 1.0]], at: 600)
            let (refused, answer) = try await AnomalyRouteTests.post(client, "/anomaly/detect", try AnomalyRouteTests.json(["asset_id": asset, "samples": late]))
            #expect(refused.status == .badRequest, "\(answer)")
            let details = (try? Envelope.decode(refused))?.error.details ?? []
            #expect(details.count == 1 && details.first?.index == 600 && details.first?.field == "timestamp", "\(details)")
            #expect(details.first?.problem.contains("9999-12-31T23:59:59Z") == true, "\(details)")
            var early = samples
            early[3]["timestamp"] = "1970-01-01T00:30:00+01:00"
            let (before, _) = try await AnomalyRouteTests.post(client, "/anomaly/detect", try AnomalyRouteTests.json(["asset_id": asset, "samples": early]))
            #expect(before.status == .badRequest && (try? Envelope.decode(before))?.error.details.first?.index == 3)
            let train: [String: Any] = ["asset_id": asset, "metrics": ["cpu"], "from": "9999-12-31T23:59:59-23:59", "to": "9999-12-31T23:59:59Z"]
            let (trainRefused, _) = try await AnomalyRouteTests.post(client, "/anomaly/train", try AnomalyRouteTests.json(train))
            #expect(trainRefused.status == .badRequest && (try? Envelope.decode(trainRefused))?.error.details.first?.field == "from")

            // The last accepted second is stored and read back in every page and the stream.
            samples.append(["timestamp": "9999-12-31T23:59:59+23:59", "metrics": ["cpu": 1.0]])
            samples.append(["timestamp": "9999-12-31T23:59:59Z", "metrics": ["cpu": 1.0]])
            let (stored, storedAnswer) = try await AnomalyRouteTests.post(client, "/anomaly/detect", try AnomalyRouteTests.json(["asset_id": asset, "samples": samples]))
            #expect(stored.status == .ok, "\(storedAnswer)")
            let range = "from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59.999Z"
            var ids: [Int] = []
            var times: [String] = []
            var cursor: String?
            repeat {
                let uri = cursor.map { "/anomaly/scores/\(asset)?cursor=\($0)&limit=1000" } ?? "/anomaly/scores/\(asset)?\(range)&limit=1000"
                let (page, answer) = try await AnomalyRouteTests.get(client, uri)
                #expect(page.status == .ok, "\(answer)")
                let rows = answer["scores"] as? [[String: Any]] ?? []
                ids += rows.compactMap { $0["id"] as? Int }
                times += rows.compactMap { $0["timestamp"] as? String }
                cursor = answer["next"] as? String
            } while cursor != nil
            #expect(ids.count == 1202 && Set(ids).count == 1202, "every row once: \(ids.count)")
            #expect(times.first == "9999-12-31T23:59:59.000Z", "newest first: \(times.prefix(2))")
            let stream = try await client.execute(uri: "/anomaly/scores/\(asset)?\(range)", method: .get, headers: [.accept: "application/x-ndjson"])
            #expect(String(buffer: stream.body).split(separator: "\n").count == 1202)
        }
    }

    @Test func testOneAcceptedRangeOnSQLite() async throws {
        let directory = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.check(TestApp.configuration { $0.sqlitePath = directory.appendingPathComponent("db.sqlite").path })
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testOneAcceptedRangeOnPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        try await Self.check(TestApp.configuration {
            $0.databaseURL = url
            $0.storeTimeoutSeconds = 60
        })
    }
}
