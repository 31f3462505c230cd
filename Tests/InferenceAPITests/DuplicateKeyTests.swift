import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// A key repeated in one object makes a body ambiguous (a proxy may read the first, a decoder the
/// last): every JSON route answers 400 naming it, and acts on nothing.
@Suite("Duplicate JSON keys")
struct DuplicateKeyTests {
    static func reading() throws -> String {
        let vector = try TestApp.servedVector()
        return String(decoding: try JSONSerialization.data(withJSONObject: vector.readings[0]), as: UTF8.self)
    }

    @Test func testEveryJSONRouteRefusesARepeatedKey() async throws {
        let reading = try Self.reading()
        let firstFeature = try TestApp.servedVector().feature_names[0]
        let sample = #"{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu_pct": 10}}"#
        let twiceMetric = #"{"timestamp": "2026-11-22T10:00:00Z", "metrics": {"cpu_pct": 10, "cpu_pct": 99}}"#
        let cases: [(uri: String, body: String, key: String)] = [
            ("/predict", #"{"readings": [\#(reading)], "readings": []}"#, "readings"),
            ("/predict", #"{"readings": [\#(reading.dropLast()), "module_id": "a", "module_id": "b"}]}"#, "module_id"),
            ("/predict", #"{"readings": [\#(reading.dropLast()), "\#(firstFeature)": 1}]}"#, firstFeature),
            ("/feedback", #"{"readings": [\#(reading)], "outcomes": [0], "outcomes": [1]}"#, "outcomes"),
            ("/anomaly/detect", #"{"asset_id": "a-1", "asset_id": "a-2", "samples": [\#(sample)]}"#, "asset_id"),
            ("/anomaly/detect", #"{"asset_id": "a-1", "samples": [\#(sample), \#(twiceMetric)]}"#, "samples[1].metrics.cpu_pct"),
            ("/anomaly/train", #"{"asset_id": "a-1", "metrics": ["cpu_pct"], "metrics": ["x"], "samples": [\#(sample)]}"#, "metrics"),
            ("/models/activate", #"{"run_id": "a", "run_id": "b"}"#, "run_id"),
            ("/v2/models/battery-hazard/infer", #"{"inputs": [], "inputs": []}"#, "inputs"),
        ]
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            for c in cases {
                let response = try await client.execute(uri: c.uri, method: .post, headers: TestApp.json, body: ByteBuffer(string: c.body))
                #expect(response.status == .badRequest, "\(c.uri) \(c.key): \(response.status) \(String(buffer: response.body).prefix(200))")
                let text = String(buffer: response.body)
                #expect(text.contains(c.key) && (text.contains("appears twice") || text.contains("repeat")), "\(c.uri): \(text.prefix(300))")
            }
            let scores = try await client.execute(uri: "/anomaly/scores/a-1?hours=87600", method: .get)
            #expect(String(buffer: scores.body).contains("\"count\":0"), "nothing stored: \(String(buffer: scores.body).prefix(200))")
        }
    }

    @Test func testTheCheckWalksEveryLevelAndPassesDistinctKeys() {
        func duplicate(_ text: String) -> String? { Array(text.utf8).withUnsafeBytes { JSONLexer.firstDuplicateKey(in: $0) } }
        #expect(duplicate(#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}"#) == nil)
        #expect(duplicate(#"{"a": 1, "b": [{"x": 1}, {"y": 2, "y": 3}]}"#) == "b[1].y")
        #expect(duplicate(#"{"\u0061": 1, "a": 2}"#) == "a", "keys compare unescaped")
        #expect(duplicate(#"{"a": 1, "a" 2}"#) == "a", "the first repeat is found before a later syntax error")
        #expect(duplicate(#"[1, 2, {"k": [], "k": {}}]"#) == "[2].k")
        #expect(duplicate("not json") == nil, "the route's own parser explains syntax")
    }
}
