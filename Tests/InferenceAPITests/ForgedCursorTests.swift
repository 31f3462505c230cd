import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// Forged cursors and out-of-range query values are 400s naming the parameter: a cursor's
/// numbers are range-checked where it is parsed, before any store converts them.
@Suite("Forged cursors and query values", .timeLimit(.minutes(5)))
struct ForgedCursorTests {
    static func cursor(_ text: String) -> String { QueryFuzzing.base64url(Array(text.utf8)) }

    /// The issue's two cursors trapped in `ISO8601.format(units:digits:)` and `StoreTime.format`;
    /// every field outside its range is refused now.
    @Test func testCursorFieldsAreRangeChecked() {
        for text in [
            "e1|-9223372036854775808|ep_x", "s1|router-1||9223372036854775807|1796272236000000|19", "e1|9223372036854775807|ep_x",
            "s1|router-1|||-1|19", "s1|router-1|||253402300800000000|19", "s1|router-1|-9223372036854775808||1796272236000000|19",
            "s1|router-1|||1796272236000000|-1", "y1|-1", "y1|9223372036854775808", "e1|1796272236000000|ep_" + String(repeating: "x", count: 62),
            "s1|router-1|||1796272236000000", "e1|1796272236000000", "s1|router 1|||1796272236000000|19", "e1|NaN|ep_x", "e1|1e15|ep_x",
            "e2|5|ep_y|router 1||||", "e2|5|ep_y||shut|||", "e2|5|ep_y||||-1|", "e2|5|ep_y||||253402300800000000", "e2|5|ep_y|||",
            "e2|5|ep_y|||||9223372036854775807|",
        ] {
            #expect(PageCursor(Self.cursor(text)) == nil, "\(text)")
        }
        let good: [PageCursor] = [
            .scores(asset: "router-1", since: 0, until: 253_402_300_799_999_999, micros: 1_796_272_236_000_000, id: 19), .sync(afterId: 0),
            .sync(afterId: .max), .episodes(micros: 0, id: "ep_x", filters: nil),
            .episodes(micros: 253_402_300_799_999_999, id: "ep_" + String(repeating: "x", count: 61), filters: nil),
            .episodes(micros: 5, id: "ep_y", filters: .init(asset: "rack-1/m:2", state: "open", from: 0, to: 253_402_300_799_999_999)),
            .episodes(micros: 5, id: "ep_y", filters: .init()),
        ]
        for cursor in good { #expect(PageCursor(cursor.encoded) == cursor, "\(cursor)") }
    }

    /// The oracle `make fuzz` runs: generated query strings through the routes' parsers, every
    /// accepted cursor time inside the accepted years (forged ones were taken as they came).
    @Test func testGeneratedQueriesKeepTheParsersContract() {
        var random = SplitMix64(seed: 24)
        var accepted = 0
        var refused = 0
        var violations: [String] = []
        for _ in 0..<20_000 {
            let uri = QueryFuzzing.input(asset: "router-1", using: &random)
            let outcome = QueryFuzzing.check(uri)
            accepted += outcome.accepted
            refused += outcome.refused
            if let why = outcome.violation, violations.count < 5 { violations.append("\(uri.prefix(200)): \(why)") }
        }
        #expect(violations.isEmpty, "\(violations)")
        #expect(accepted > 2000 && refused > 2000, "both sides of every parser reached: \(accepted) accepted, \(refused) refused")
    }

    static func check(_ configuration: Configuration) async throws {
        let app = try await buildApplication(configuration: configuration)
        let asset = "forged-\(UUID().uuidString.prefix(8))"
        try await app.test(.live) { client in
            let samples = (0..<20).map { ["timestamp": ISO8601.format(Date(timeIntervalSince1970: 1_796_272_236 + Double($0) * 60)), "metrics": ["cpu": 1.0]] }
            let (stored, _) = try await AnomalyRouteTests.post(client, "/anomaly/detect", try AnomalyRouteTests.json(["asset_id": asset, "samples": samples]))
            #expect(stored.status == .ok)
            let refused: [(uri: String, field: String)] = [
                ("/anomaly/episodes?cursor=\(Self.cursor("e1|-9223372036854775808|ep_x"))", "cursor"),
                ("/anomaly/scores/\(asset)?cursor=\(Self.cursor("s1|\(asset)||9223372036854775807|1796272236000000|19"))", "cursor"),
                ("/anomaly/scores/\(asset)?cursor=\(Self.cursor("s1|\(asset)|||9223372036854775807|19"))", "cursor"),
                ("/anomaly/scores/\(asset)?cursor=\(Self.cursor("s1|\(asset)|||1796272236000000|-9223372036854775808"))", "cursor"),
                ("/anomaly/scores?cursor=\(Self.cursor("y1|-9223372036854775808"))", "cursor"),
                ("/anomaly/scores/\(asset)?from=0000-01-01T00:00:00%2B23:59", "from"),
                ("/anomaly/scores/\(asset)?to=9999-12-31T23:59:59-23:59", "to"),
                ("/anomaly/episodes?from=1969-12-31T23:59:59Z", "from"),
                ("/anomaly/scores/\(asset)?hours=nan", "hours"), ("/anomaly/scores/\(asset)?limit=9223372036854775808", "limit"),
                ("/anomaly/samples/\(asset)?hours=-inf", "hours"), ("/ems/outbox?after=1e300", "after"), ("/ems/outbox?after=-1", "after"),
            ]
            for (uri, field) in refused {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .badRequest, "\(uri): \(String(buffer: response.body))")
                let fields = (try? Envelope.decode(response))?.error.details.compactMap(\.field) ?? []
                #expect(fields.contains(field), "\(uri) names \(field): \(fields)")
            }
            // Still answering, and cursors at the edges of the accepted years read.
            let edge = try await client.execute(uri: "/anomaly/scores/\(asset)?cursor=\(Self.cursor("s1|\(asset)|0|253402300799999999|253402300799999999|0"))", method: .get)
            #expect(edge.status == .ok, "\(String(buffer: edge.body))")
            let episodes = try await client.execute(uri: "/anomaly/episodes?cursor=\(Self.cursor("e1|0|ep_x"))", method: .get)
            #expect(episodes.status == .ok, "\(String(buffer: episodes.body))")
            let (all, answer) = try await AnomalyRouteTests.get(client, "/anomaly/scores/\(asset)?from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59.999Z")
            #expect(all.status == .ok && answer["count"] as? Int == 20, "\(answer)")
        }
    }

    @Test func testForgedCursorsAre400sOnSQLite() async throws {
        let directory = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.check(TestApp.configuration { $0.sqlitePath = directory.appendingPathComponent("db.sqlite").path })
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testForgedCursorsAre400sOnPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        try await Self.check(TestApp.configuration {
            $0.databaseURL = url
            $0.storeTimeoutSeconds = 60
        })
    }
}
