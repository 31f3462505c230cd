import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// The compiled forest behind /predict (PREDICTOR), and per-reading explanations.
@Suite("Predictor and explanations")
struct PredictExplainRouteTests {
    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
    }

    @Test(arguments: [("auto", "compiled"), ("c-api", "c-api"), ("compiled", "compiled")])
    func testActiveModelNamesItsPredictor(_ setting: String, _ expected: String) async throws {
        var configuration = TestApp.configuration()
        configuration.predictor = try #require(PredictorChoice(rawValue: setting))
        let app = try await buildApplication(configuration: configuration)
        try await app.test(.router) { client in
            let active = try Self.json(try await client.execute(uri: "/models/active", method: .get))
            #expect(active["predictor"] as? String == expected)
            let reason = active["predictor_reason"] as? String ?? ""
            #expect(expected == "c-api" ? !reason.isEmpty : reason.contains("bit for bit"), "\(reason)")
        }
    }

    @Test func testExplanationsAddUpToTheServedMargin() async throws {
        let vector = try TestApp.servedVector()
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let readings = Array(vector.readings.prefix(12))
            var body = ["readings": readings] as [String: Any]
            let plain = try Self.json(try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(readings)))
            body["explain"] = true
            let all = try Self.json(
                try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))))
            body["explain"] = ["top": 3]
            let top = try Self.json(
                try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))))
            let plainPredictions = plain["predictions"] as? [[String: Any]] ?? []
            let explained = all["predictions"] as? [[String: Any]] ?? []
            let topped = top["predictions"] as? [[String: Any]] ?? []
            #expect(explained.count == 12 && topped.count == 12)
            for (k, prediction) in explained.enumerated() {
                let probability = try #require(prediction["hazard_probability"] as? Double)
                #expect(probability == plainPredictions[k]["hazard_probability"] as? Double, "explaining changes no probability")
                #expect(abs(probability - vector.probabilities[k]) <= 1e-6, "Python's probability")
                let explanation = try #require(prediction["explanation"] as? [String: Any])
                let margin = try #require(explanation["margin"] as? Double), bias = try #require(explanation["bias"] as? Double)
                let contributions = try #require(explanation["contributions"] as? [[String: Any]])
                #expect(contributions.count == vector.feature_names.count)
                #expect(Set(contributions.compactMap { $0["feature"] as? String }) == Set(vector.feature_names))
                let values = contributions.compactMap { $0["value"] as? Double }
                #expect(abs(values.reduce(bias, +) - margin) <= 1e-4 * max(1, abs(margin)), "reading \(k): contributions add up to the margin")
                #expect(abs(1 / (1 + exp(-margin)) - probability) <= 1e-6, "reading \(k): the margin is the served one")
                #expect(zip(values, values.dropFirst()).allSatisfy { abs($0) >= abs($1) }, "largest first")
                let three = try #require((topped[k]["explanation"] as? [String: Any])?["contributions"] as? [[String: Any]])
                #expect(three.count == 3 && three.map { $0["feature"] as? String } == contributions.prefix(3).map { $0["feature"] as? String })
            }
            #expect(plainPredictions.allSatisfy { $0["explanation"] == nil })
        }
    }

    @Test(arguments: [#""yes""#, #"{"top": 0}"#, #"{"top": 2.5}"#, #"{"top": 9999}"#, #"{"k": 3}"#])
    func testAnExplainThatIsNotTrueFalseOrTopIs400(_ value: String) async throws {
        let vector = try TestApp.servedVector()
        let reading = String(decoding: try JSONSerialization.data(withJSONObject: vector.readings[0]), as: UTF8.self)
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/predict", method: .post, headers: TestApp.json, body: ByteBuffer(string: #"{"readings": [\#(reading)], "explain": \#(value)}"#))
            #expect(response.status == .badRequest)
            #expect(try Envelope.decode(response).error.details.contains { $0.field == "explain" })
        }
    }
}
