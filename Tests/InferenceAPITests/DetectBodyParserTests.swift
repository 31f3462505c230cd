import ComputeSupport
import Foundation
import Storage
import Testing

@testable import InferenceAPI

/// The one-pass detect parser must accept exactly what the explained path accepts, with the
/// same result, and hand everything else to it.
@Suite("Detect body fast path")
struct DetectBodyParserTests {
    static func fast(_ text: String, maxSamples: Int = 100) -> AnomalyRequests.Detect? {
        Data(text.utf8).withUnsafeBytes { DetectBodyParser.parse($0, maxSamples: maxSamples) }
    }

    @Test func testValidBodiesGiveTheExplainedPathsResult() throws {
        var generator = SplitMix64(seed: 11)
        for round in 0..<50 {
            let count = 1 + Int(generator.next() % 40)
            let names = ["cpu_pct", "memory.pct", "latency-ms", "error_count"].prefix(1 + Int(generator.next() % 4))
            var samples: [[String: Any]] = []
            var expected: [[String: Double]] = []
            for i in 0..<count {
                var metrics: [String: Double] = [:]
                for name in names { metrics[name] = (Double(Int64(bitPattern: generator.next() % 2_000_000)) - 1_000_000) / 997 }
                samples.append(["timestamp": "2026-11-25T10:\(String(format: "%02d", i % 60)):00.\(i % 10)Z", "metrics": metrics])
                expected.append(metrics)
            }
            var body: [String: Any] = ["asset_id": "router-\(round)", "samples": samples]
            if round % 3 == 0 { body["persist"] = round % 2 == 0 }
            let data = try JSONSerialization.data(withJSONObject: body, options: round % 2 == 0 ? [.prettyPrinted] : [])
            let fast = try #require(data.withUnsafeBytes { DetectBodyParser.parse($0, maxSamples: 100) }, "round \(round) took the slow path")
            let explained = try AnomalyRequests.detectExplained(data, maxSamples: 100)
            #expect(fast.assetId == explained.assetId && fast.timestamps == explained.timestamps && fast.persist == explained.persist)
            #expect(fast.samples.map(\.timestamp) == explained.samples.map(\.timestamp))
            // The values are exactly the ones written; JSONSerialization (the explained path) can be
            // one unit in the last place off on Linux, so it is compared with a tolerance.
            #expect(fast.samples.map(\.metrics) == expected, "round \(round)")
            for (a, b) in zip(fast.samples, explained.samples) {
                #expect(a.metrics.keys.sorted() == b.metrics.keys.sorted())
                for (name, value) in a.metrics { #expect(abs(value - (b.metrics[name] ?? .nan)) <= 1e-12 * max(1, abs(value))) }
            }
        }
    }

    @Test(arguments: [
        #"{"asset_id":"a","samples":[]}"#,
        #"{"asset_id":"a"}"#,
        #"{"samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}]}"#,
        #"{"asset_id":"a b","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"yesterday","metrics":{"cpu":1}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":"1"}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1e999}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"c p u":1}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1,"cpu":2}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1},"extra":1}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}],"persist":"yes"}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}],"other":1}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}]} trailing"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}"#,
        #"{"asset_id":"\u0061","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}]}"#,
        #"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}},{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}},{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":1}}]}"#,
    ])
    func testAnythingElseTakesTheExplainedPath(_ body: String) {
        #expect(Self.fast(body, maxSamples: 2) == nil)
    }

    @Test func testTheSlowPathStillExplains() throws {
        let body = Data(#"{"asset_id":"a","samples":[{"timestamp":"2026-11-25T10:00:00Z","metrics":{"cpu":"1"}}]}"#.utf8)
        do {
            _ = try AnomalyRequests.detect(body, maxSamples: 10)
            Issue.record("accepted a string metric")
        } catch let error as APIError {
            #expect(error.details.first?.field == "metrics.cpu")
        }
    }
}
