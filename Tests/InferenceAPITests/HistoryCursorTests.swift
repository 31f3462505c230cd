import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Storage
import Testing

/// (e) History by cursor: a month of 5-minute scores (10,080 rows) paged while new rows arrive
/// yields each row once; the tenant's sync and the NDJSON export see every row once.
@Suite("History by cursor", .timeLimit(.minutes(5)))
struct HistoryCursorTests {
    static let monthStart = Date(timeIntervalSince1970: 1_796_000_000)

    static func samples(_ range: Range<Int>) -> [[String: Any]] {
        range.map { (i: Int) -> [String: Any] in
            let cpu: Double = 20 + Double((i * 7) % 11) * 0.3
            return ["timestamp": ISO8601.format(monthStart.addingTimeInterval(Double(i) * 300)), "metrics": ["cpu": cpu]]
        }
    }

    static func detect(_ client: some TestClientProtocol, _ asset: String, _ range: Range<Int>) async throws {
        let body = try AnomalyRouteTests.json(["asset_id": asset, "samples": samples(range)])
        let (response, _) = try await AnomalyRouteTests.post(client, "/anomaly/detect", body)
        #expect(response.status == .ok)
    }

    static func check(_ configuration: Configuration) async throws {
        let app = try await buildApplication(configuration: configuration)
        let asset = "month-\(UUID().uuidString.prefix(8))"
        try await app.test(.live) { client in
            // Ten requests rather than two: each answers well within the test client's 20 s on a loaded machine.
            for start in stride(from: 0, to: 10_080, by: 1008) { try await detect(client, asset, start..<(start + 1008)) }
            let from = ISO8601.format(monthStart), to = ISO8601.format(monthStart.addingTimeInterval(40 * 86_400))
            var ids: [Int] = []
            var cursor: String?
            var page = 0
            var firstNext: String?
            repeat {
                let uri = cursor.map { "/anomaly/scores/\(asset)?cursor=\($0)&limit=1000" } ?? "/anomaly/scores/\(asset)?from=\(from)&to=\(to)&limit=1000"
                let (response, answer) = try await AnomalyRouteTests.get(client, uri)
                #expect(response.status == .ok, "\(answer)")
                ids += (answer["scores"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
                cursor = answer["next"] as? String
                if page == 0 { firstNext = cursor }
                // New rows arrive between pages (later samples of the same asset, inside the range).
                try await detect(client, asset, (10_080 + page * 7)..<(10_080 + page * 7 + 7))
                page += 1
            } while cursor != nil
            #expect(ids.count == 10_080 && Set(ids).count == 10_080, "every stored row once: \(ids.count) rows, \(Set(ids).count) distinct")
            #expect(page == 11)

            // The NDJSON export of the range: every row now stored, one per line.
            let stream = try await client.execute(
                uri: "/anomaly/scores/\(asset)?from=\(from)&to=\(to)", method: .get, headers: [.accept: "application/x-ndjson"])
            #expect(stream.status == .ok && stream.headers[.contentType] == "application/x-ndjson")
            let lines = String(buffer: stream.body).split(separator: "\n")
            let streamed = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int }
            #expect(streamed.count == 10_080 + page * 7 && Set(streamed).count == streamed.count && Set(ids).isSubset(of: Set(streamed)))

            // The tenant's sync: every row of the asset once, then only what came since.
            var synced: [Int] = []
            var next: String?
            var more = true
            while more {
                let (_, answer) = try await AnomalyRouteTests.get(client, "/anomaly/scores?limit=2000" + (next.map { "&cursor=\($0)" } ?? ""))
                synced += (answer["scores"] as? [[String: Any]] ?? []).filter { $0["asset_id"] as? String == asset }.compactMap { $0["id"] as? Int }
                next = answer["next"] as? String
                more = answer["more"] as? Bool ?? false
                if !more, synced.count < streamed.count {
                    try await Task.sleep(for: .milliseconds(500))  // the last rows settle (2 s)
                    more = true
                }
            }
            #expect(Set(synced) == Set(streamed) && synced.count == streamed.count, "sync: \(synced.count) of \(streamed.count)")
            try await detect(client, asset, 20_000..<20_010)
            try await Task.sleep(for: .milliseconds(2200))
            let (_, later) = try await AnomalyRouteTests.get(client, "/anomaly/scores?cursor=\(next ?? "")")
            let fresh = (later["scores"] as? [[String: Any]] ?? []).filter { $0["asset_id"] as? String == asset }
            #expect(fresh.count == 10 && later["more"] as? Bool == false, "only the rows written since")

            for bad in [
                "/anomaly/scores/\(asset)?cursor=not-a-cursor", "/anomaly/scores/other?cursor=\(try #require(firstNext))",
                "/anomaly/scores/\(asset)?hours=2&from=\(from)", "/anomaly/scores/\(asset)?from=\(to)&to=\(from)", "/anomaly/scores?cursor=abc",
                "/anomaly/scores?asset=x", "/anomaly/episodes?state=shut", "/anomaly/episodes?cursor=zz",
            ] {
                let (response, answer) = try await AnomalyRouteTests.get(client, bad)
                #expect(response.status == .badRequest, "\(bad): \(answer)")
            }
        }
    }

    @Test func testCursorPagingOnSQLite() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cursor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.check(TestApp.configuration { $0.sqlitePath = directory.appendingPathComponent("db.sqlite").path })
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testCursorPagingOnPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        try await Self.check(TestApp.configuration {
            $0.databaseURL = url
            $0.storeTimeoutSeconds = 60  // beside kill -9 and outage tests on the same cluster
        })
    }
}
