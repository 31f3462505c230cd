import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// `POST /anomaly/forecast` and `GET /anomaly/forecast/{asset_id}`: both forms, tenants, and every
/// refusal a 4xx envelope with nothing written.
@Suite("Forecast routes", .timeLimit(.minutes(5)))
struct ForecastRouteTests {
    /// `days` of five-minute samples ending now: a daily cycle on a level growing 7 a week.
    static func samples(days: Int) -> [[String: Any]] {
        let count = days * 288
        let end = Date().timeIntervalSince1970.rounded(.down)
        return (0..<count).map { i in
            let time = end - Double(count - i) * 300
            let value = 100 + Double(i) / 288 + 20 * sin(2 * .pi * Double(i % 288) / 288) + Double((i * 7919) % 13) / 13
            return ["timestamp": ModelInfo.timestamp(Date(timeIntervalSince1970: time)), "metrics": ["latency_ms": value, "cpu_pct": 40.0]]
        }
    }

    static func json(_ object: [String: Any]) throws -> ByteBuffer { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)) }

    static func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
    }

    @Test func testGivenAndStoredHistoryGiveTheSameForecast() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let samples = Self.samples(days: 3)
        let count = samples.count
        let last = try #require(samples.last?["timestamp"] as? String)
        let forecastBody = try Self.json(["asset_id": "router-9", "metric": "latency_ms", "horizon": 48, "interval": 0.8, "samples": samples, "threshold": 130])
        let detectBodies = try stride(from: 0, to: count, by: 5000).map {
            try Self.json(["asset_id": "router-9", "samples": Array(samples[$0..<min(count, $0 + 5000)])])
        }
        try await app.test(.router) { client in
            let given = try await client.execute(uri: "/anomaly/forecast", method: .post, headers: TestApp.json, body: forecastBody)
            #expect(given.status == .ok)
            let answer = Self.object(given)
            let points = answer["forecast"] as? [[String: Any]] ?? []
            #expect(points.count == 48 && answer["step_seconds"] as? Double == 300 && answer["fitted_samples"] as? Int == count)
            #expect((answer["components"] as? [String])?.contains("daily") == true && answer["interval"] as? Double == 0.8)
            let growth = answer["growth_per_week"] as? Double ?? 0
            #expect(abs(growth - 7) < 2, "the generated growth is 7 a week: \(growth)")
            #expect((answer["crossing"] as? [String: Any])?["threshold"] as? Double == 130)
            // The first point is one step after the last sample.
            let first = try #require(points.first?["timestamp"] as? String)
            #expect(ModelInfo.timestamp(ISO8601.parse(last)!.addingTimeInterval(300)) == first)
            #expect(points.allSatisfy { ($0["lower"] as? Double ?? 1) <= ($0["value"] as? Double ?? 0) && ($0["value"] as? Double ?? 1) <= ($0["upper"] as? Double ?? 0) })
            // Nothing was written: the asset has no stored samples.
            let stored = try await client.execute(uri: "/anomaly/samples/router-9?hours=1000", method: .get)
            #expect(Self.object(stored)["count"] as? Int == 0)

            // Stored: the same history through /anomaly/detect, then the GET form.
            for body in detectBodies {
                let detect = try await client.execute(uri: "/anomaly/detect", method: .post, headers: TestApp.json, body: body)
                #expect(detect.status == .ok)
            }
            let fromStore = try await client.execute(uri: "/anomaly/forecast/router-9?metric=latency_ms&horizon=48&interval=0.8&threshold=130", method: .get)
            #expect(fromStore.status == .ok)
            let a = Self.object(fromStore)["forecast"] as? NSArray, b = points as NSArray
            #expect(a == b, "the stored history forecasts as the given one")
        }
    }

    @Test func testATenantForecastsOnlyItsOwnAssets() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        let body = try Self.json(["asset_id": "shared-name", "samples": Self.samples(days: 3)])
        try await app.test(.router) { client in
            let detect = try await client.execute(uri: "/anomaly/detect", method: .post, headers: SecuredApp.Key.globexWriter.headers, body: body)
            #expect(detect.status == .ok)
            let own = try await client.execute(uri: "/anomaly/forecast/shared-name?metric=latency_ms", method: .get, headers: SecuredApp.Key.globexWriter.headers)
            #expect(own.status == .ok)
            let other = try await client.execute(uri: "/anomaly/forecast/shared-name?metric=latency_ms", method: .get, headers: SecuredApp.Key.anomalyReader.headers)
            #expect(other.status == .unprocessableContent, "acme has no samples of globex's asset")
            #expect(try Envelope.decode(other).error.code == "too_little_history")
            let predictOnly = try await client.execute(uri: "/anomaly/forecast/shared-name?metric=latency_ms", method: .get, headers: SecuredApp.Key.predict.headers)
            #expect(predictOnly.status == .forbidden)
        }
    }

    @Test(arguments: [
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"horizon\": 0, \"samples\": SAMPLES}", HTTPResponse.Status.badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"horizon\": 4033, \"samples\": SAMPLES}", .badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"horizon\": 1.5, \"samples\": SAMPLES}", .badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"interval\": 0.999, \"samples\": SAMPLES}", .badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"threshold\": \"high\", \"samples\": SAMPLES}", .badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"samples\": SAMPLES}", .badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"horizn\": 5, \"samples\": SAMPLES}", .badRequest, "validation_failed"),
        ("{\"asset_id\": \"a\", \"metric\": \"bandwidth\", \"samples\": SAMPLES}", .unprocessableContent, "unknown_metric"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\", \"samples\": SHORT}", .unprocessableContent, "too_little_history"),
        ("{\"asset_id\": \"a\", \"metric\": \"latency_ms\"}", .unprocessableContent, "too_little_history"),
        ("[1, 2]", .badRequest, "validation_failed"),
    ])
    func testRefusalsAreEnvelopesAndWriteNothing(body: String, status: HTTPResponse.Status, code: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let full = String(decoding: try JSONSerialization.data(withJSONObject: Self.samples(days: 3)), as: UTF8.self)
        let short = String(decoding: try JSONSerialization.data(withJSONObject: Self.samples(days: 1)), as: UTF8.self)
        try await app.test(.router) { client in
            let sent = body.replacingOccurrences(of: "SAMPLES", with: full).replacingOccurrences(of: "SHORT", with: short)
            let response = try await client.execute(uri: "/anomaly/forecast", method: .post, headers: TestApp.json, body: ByteBuffer(string: sent))
            #expect(response.status == status)
            let envelope = try Envelope.decode(response)
            #expect(envelope.error.code == code, "\(envelope.error.message)")
            if code == "too_little_history", body.contains("SHORT") { #expect(envelope.error.message.contains("288 samples")) }
            let stored = try await client.execute(uri: "/anomaly/assets", method: .get)
            #expect((Self.object(stored)["assets"] as? [Any])?.isEmpty == true, "nothing written")
        }
    }

    @Test(arguments: ["metric=", "metric=latency_ms&horizon=0", "metric=latency_ms&horizon=2.5", "metric=latency_ms&interval=2", "metric=latency_ms&threshold=x"])
    func testStoredFormRefusesBadQueries(query: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/anomaly/forecast/router-1?\(query)", method: .get)
            #expect(response.status == .badRequest)
            #expect(try Envelope.decode(response).error.code == "validation_failed")
        }
    }
}
