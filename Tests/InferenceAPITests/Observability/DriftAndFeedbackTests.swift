import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

@Suite("Drift and feedback")
struct DriftAndFeedbackTests {
    static func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
    }

    @Test func testDriftMovesWhenReadingsShift() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration { $0.driftWindow = 100 })
        try await app.test(.router) { client in
            let empty = Self.object(try await client.execute(uri: "/drift", method: .get))
            #expect(empty["readings"] as? Int == 0)
            let features = try #require(empty["features"] as? [[String: Any]])
            let names = features.compactMap { $0["name"] as? String }
            let means = features.compactMap { $0["training_mean"] as? Double }
            let scales = features.compactMap { $0["training_scale"] as? Double }
            #expect(means.count == names.count && scales.count == names.count, "the scaler's baseline is reported")

            // Readings at the training mean: no drift.
            let centred = Dictionary(uniqueKeysWithValues: zip(names, means))
            let r16 = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(Array(repeating: centred, count: 100)))
            #expect(r16.status == .ok)
            let calm = Self.object(try await client.execute(uri: "/drift", method: .get))
            #expect(calm["readings"] as? Int == 100)
            #expect((calm["drifted"] as? [String])?.isEmpty == true)

            // The same readings with feature 2 moved by 3 training standard deviations, filling the window.
            var shifted = centred
            shifted[names[2]] = means[2] + 3 * scales[2]
            let r17 = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(Array(repeating: shifted, count: 100)))
            #expect(r17.status == .ok)
            let moved = Self.object(try await client.execute(uri: "/drift", method: .get))
            #expect(moved["drifted"] as? [String] == [names[2]])
            let report = try #require((moved["features"] as? [[String: Any]])?[2])
            #expect(abs((report["mean_shift"] as? Double ?? 0) - 3) < 1e-9)
            let other = try #require((moved["features"] as? [[String: Any]])?[0])
            #expect(abs(other["mean_shift"] as? Double ?? 1) < 1e-9)
        }
    }

    /// Found by schemathesis: readings near Double's limit overflowed the window sums and the
    /// report answered 500 (JSON cannot carry inf or NaN).
    @Test func testReadingsAtTheLimitsOfDoubleStillGiveADriftReport() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration { $0.driftWindow = 10 })
        let vector = try TestApp.servedVector()
        let huge = Dictionary(uniqueKeysWithValues: vector.feature_names.map { ($0, 1.7e308) })
        try await app.test(.router) { client in
            let predicted = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body([huge, huge, huge]))
            #expect(predicted.status == .ok)
            let report = try await client.execute(uri: "/drift", method: .get)
            #expect(report.status == .ok)
            let features = Self.object(report)["features"] as? [[String: Any]] ?? []
            #expect(features.count == vector.feature_names.count)
            #expect(features.allSatisfy { $0["drifted"] as? Bool == true })
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
        }
    }

    @Test func testFeedbackIsStoredAndScoresTheActiveModel() async throws {
        let vector = try TestApp.servedVector()
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        let rows = Array(vector.readings.prefix(50))
        // Outcomes that disagree with the model on every fifth reading.
        let outcomes = (0..<50).map { i in i % 5 == 0 ? 1 - vector.predictions[i] : vector.predictions[i] }
        let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["readings": rows, "outcomes": outcomes]))
        try await app.test(.router) { client in
            let stored = try await client.execute(uri: "/feedback", method: .post, headers: SecuredApp.Key.predict.headers, body: body)
            #expect(stored.status == .created, "\(String(buffer: stored.body))")
            #expect(Self.object(stored)["stored"] as? Int == 50)

            let answer = try await client.execute(uri: "/models/active/performance", method: .get, headers: SecuredApp.Key.admin.headers)
            #expect(answer.status == .ok)
            let object = Self.object(answer)
            #expect(object["feedback_rows"] as? Int == 50)
            let metrics = try #require(object["metrics"] as? [String: Any])
            // Expected values computed here from Python's probabilities, pair by pair.
            let p = vector.probabilities.prefix(50)
            var tp = 0, fp = 0, fn = 0, wins = 0.0, pairs = 0.0
            for i in 0..<50 {
                let predicted = p[i] >= 0.5
                if predicted && outcomes[i] == 1 { tp += 1 }
                if predicted && outcomes[i] == 0 { fp += 1 }
                if !predicted && outcomes[i] == 1 { fn += 1 }
                for j in 0..<50 where outcomes[i] == 1 && outcomes[j] == 0 {
                    pairs += 1
                    wins += p[i] > p[j] ? 1 : (p[i] == p[j] ? 0.5 : 0)
                }
            }
            #expect(metrics["true_positives"] as? Int == tp)
            #expect(abs((metrics["precision"] as? Double ?? -1) - Double(tp) / Double(tp + fp)) < 1e-9)
            #expect(abs((metrics["recall"] as? Double ?? -1) - Double(tp) / Double(tp + fn)) < 1e-9)
            #expect(abs((metrics["roc_auc"] as? Double ?? -1) - wins / pairs) < 1e-6)

            let mismatched = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["readings": rows, "outcomes": [1]]))
            let refused = try await client.execute(uri: "/feedback", method: .post, headers: SecuredApp.Key.predict.headers, body: mismatched)
            #expect(refused.status == .badRequest)
            let wrongValue = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["readings": Array(rows.prefix(2)), "outcomes": [1, 2]]))
            let wrong = try await client.execute(uri: "/feedback", method: .post, headers: SecuredApp.Key.predict.headers, body: wrongValue)
            #expect(wrong.status == .badRequest)
            #expect(try Envelope.decode(wrong).error.details.first?.index == 1)
        }
    }
}
