import ComputeSupport
import Foundation
import Testing

@testable import Storage

@Suite("MetricsJSON")
struct MetricsJSONTests {
    @Test func testEncodedMetricsReadBackExactlyAndSorted() throws {
        let metrics: [String: Double] = [
            "cpu_pct": 41.5, "b": 2, "tiny": 1e-300, "neg": -0.000123, "big": 1.7976931348623157e308, "quote\"d": 3, "back\\slash": 4,
            "nan": .nan, "ctl\u{1}": 5,
        ]
        let text = MetricsJSON.encode(metrics)
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(decoded.count == metrics.count - 1, "NaN is left out")
        for (key, value) in metrics where value.isFinite {
            #expect((decoded[key] as? NSNumber)?.doubleValue == value, "\(key)")
        }
        #expect(MetricsJSON.decode(text)["cpu_pct"] == 41.5)
        #expect(text.hasPrefix("{\"b\":2,"))
        // The exact text: escapes as JSON has them, whole numbers without a fraction, -0 as 0.
        #expect(MetricsJSON.encode(["q\"": 1, "c\u{1}\\": 2.5, "é": -0.0, "x": .infinity]) == #"{"c\u0001\\":2.5,"q\"":1,"é":0}"#)
    }

    /// Numbers read back exactly: `JSONSerialization` read 0.9065155807365439 as ...443 on Linux,
    /// so `/anomaly/models` showed a precision MLflow and the row did not hold.
    @Test func testNumbersReadBackExactly() {
        var random = SystemRandomNumberGenerator()
        var metrics: [String: Double] = ["precision": 0.9065155807365439, "count": 3, "neg": -1.25e-300, "big": 1.7976931348623157e308]
        for k in 0..<200 { metrics["m\(k)"] = Double.random(in: -1e6...1e6, using: &random) * (k % 2 == 0 ? 1 : 1e-9) }
        #expect(MetricsJSON.decode(MetricsJSON.encode(metrics)) == metrics)
        // PostgreSQL's jsonb text: spaces after the separators; and escaped keys, read through JSONDecoder.
        #expect(MetricsJSON.decode(#"{"a": 0.9065155807365439, "b": 2, "c": -1E-3}"#) == ["a": 0.9065155807365439, "b": 2, "c": -0.001])
        #expect(MetricsJSON.decode(#"{"q\"k": 0.9065155807365439}"#) == ["q\"k": 0.9065155807365439])
        #expect(MetricsJSON.decode(" { } ") == [:])
        for broken in ["", "{", #"{"a":}"#, #"{"a":1} x"#, #"{"a":1e999}"#, "[1]", #"{"a":"1"}"#] {
            #expect(MetricsJSON.decode(broken) == [:], "broken: \(broken)")
        }
    }

    /// One `SortedPairs` across maps whose key sets change (and maps of equal keys built in other
    /// orders) writes what a fresh sort of each map's keys writes.
    @Test func testASharedKeyOrderFollowsEachMapsKeys() {
        var random = SplitMix64(seed: 5)
        var order = SortedPairs()
        let names = ["cpu", "b", "latency_ms", "é", "a\"q", "zz", "m1", "m10", "m2"]
        for round in 0..<2000 {
            var map: [String: Double] = [:]
            let count = round % 7 == 0 ? Int(random.next() % 9) : 5
            for name in (round % 7 == 0 ? names.shuffled(using: &random) : Array(names.prefix(5))).prefix(count) {
                map[name] = Double(random.next() % 1000) / 8
            }
            var expected = "{"
            for key in map.keys.sorted() {
                if expected.count > 1 { expected += "," }
                expected += "\"\(key.replacingOccurrences(of: "\"", with: "\\\""))\":"
                let value = map[key]!
                expected += value == value.rounded() ? String(Int64(value)) : value.description
            }
            expected += "}"
            #expect(MetricsJSON.encode(map, order: &order) == expected, "round \(round)")
        }
    }
}
