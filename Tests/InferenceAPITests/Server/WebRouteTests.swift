import Artifacts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Synchronization
import Testing

@testable import InferenceAPI

/// The page's files and the JSON the page reads, without a browser (WebPageBrowserTests has one).
@Suite("Web routes")
struct WebRouteTests {
    @Test func testPagesCarryTheirPolicyAndStaticFilesAreCompressed() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok && page.headers[.contentType]?.hasPrefix("text/html") == true)
            let policy = page.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
            #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-eval") && !policy.contains("script-src 'self' 'unsafe-inline'"))
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(!String(buffer: page.body).contains("<script>"), "no inline script")
            let plain = try await client.execute(uri: "/static/swagger-ui-bundle.js", method: .get)
            let zipped = try await client.execute(uri: "/static/swagger-ui-bundle.js", method: .get, headers: [.acceptEncoding: "gzip, br"])
            #expect(plain.headers[.contentEncoding] == nil && zipped.headers[.contentEncoding] == "gzip")
            #expect(zipped.body.readableBytes < plain.body.readableBytes / 3, "\(zipped.body.readableBytes) of \(plain.body.readableBytes)")
            #expect(plain.headers[.cacheControl] == "public, max-age=86400")
            let missing = try await client.execute(uri: "/static/nothing.js", method: .get)
            #expect(missing.status == .notFound)
            let api = try await client.execute(uri: "/health", method: .get)
            #expect(api.headers[.cacheControl] == "no-store" && api.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
        }
    }

    @Test func testTheDataThePageReads() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let samples = try AnomalyRouteTests.series(count: 30)
            let detect = try await client.execute(
                uri: "/anomaly/detect", method: .post, headers: TestApp.json, body: try AnomalyRouteTests.json(["asset_id": "pump-3", "samples": samples]))
            #expect(detect.status == .ok)
            func json(_ uri: String) async throws -> [String: Any] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .ok, "\(uri): \(response.status)")
                return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
            }
            let assets = try await json("/anomaly/assets")["assets"] as? [[String: Any]]
            #expect(assets?.count == 1 && assets?.first?["asset_id"] as? String == "pump-3" && assets?.first?["samples"] as? Int == 30)
            let stored = try await json("/anomaly/samples/pump-3?hours=87600")
            let storedSamples = stored["samples"] as? [[String: Any]] ?? []
            #expect(storedSamples.count == 30)
            let sent = samples.compactMap { $0["metrics"] as? [String: Double] }
            let got = storedSamples.compactMap { $0["metrics"] as? [String: Double] }
            // The store's JSON reader (MetricsJSON.decode, JSONSerialization) can be a few ulps off.
            let same = zip(got, sent).allSatisfy { a, b in a.keys == b.keys && a.allSatisfy { abs($1 - b[$0]!) <= 1e-12 * max(1, abs($1)) } }
            #expect(got.count == sent.count && same, "oldest first, values as sent")
            let history = try await json("/models/history")["activations"] as? [[String: Any]]
            #expect(history?.first?["serving"] as? Bool == true && history?.first?["reason"] as? String == "start-up")
            let vector = try TestApp.servedVector()
            _ = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(Array(vector.readings.prefix(10))))
            let summary = try await json("/metrics/summary")
            #expect(summary["predictions"] as? Int == 10)
            #expect(summary["hazardous"] as? Int == vector.predictions.prefix(10).reduce(0, +))
            #expect((summary["hazard_probability_histogram"] as? [Int])?.reduce(0, +) == 10)
            #expect((summary["minutes"] as? [Any])?.count == 60 && (summary["requests"] as? Int ?? 0) >= 5)
        }
    }

    @Test func testTrafficHistoryBucketsByMinuteAndForgetsAfterAnHour() {
        let now = Mutex<UInt64>(0)
        let history = TrafficHistory(clock: { now.withLock { $0 } })
        for k in 1...100 { history.request(status: k == 100 ? 503 : 200, nanoseconds: UInt64(k) * 100_000) }  // 0.1 ... 10 ms
        history.predictions([0.05, 0.95, 0.5], threshold: 0.5)
        var summary = history.summary()
        #expect(summary.requests == 100 && summary.minutes.last?.errors == 1)
        // Bins are an eighth of a decade wide: the upper edge of the true percentile's bin.
        #expect(summary.p50_ms.map { $0 >= 5 && $0 < 5 * 1.34 } == true, "\(summary.p50_ms ?? -1)")
        #expect(summary.p99_ms.map { $0 >= 9.9 && $0 < 9.9 * 1.34 } == true, "\(summary.p99_ms ?? -1)")
        #expect(summary.hazard_probability_histogram == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1] && summary.hazardous == 2)
        now.withLock { $0 = 30 * 60_000_000_000 }
        history.request(status: 200, nanoseconds: 1_000_000)
        summary = history.summary()
        #expect(summary.requests == 101 && summary.minutes.first(where: { $0.minutes_ago == 30 })?.requests == 100)
        now.withLock { $0 = 61 * 60_000_000_000 }
        summary = history.summary()
        #expect(summary.requests == 1, "the first minute is more than an hour old")
    }

    /// The probability histogram takes any Float: `Int(.nan)` trapped on a request path.
    @Test func testTheProbabilityHistogramTakesAnyFloat() {
        let history = TrafficHistory(clock: { 0 })
        history.predictions([.nan, -.infinity, .infinity, -0.5, 1.0, 2, .leastNonzeroMagnitude, 0.999_999_9], threshold: 0.5)
        let bins = history.summary().hazard_probability_histogram
        #expect(bins.reduce(0, +) == 8 && bins[0] == 4 && bins[9] == 4, "\(bins)")
    }
}
