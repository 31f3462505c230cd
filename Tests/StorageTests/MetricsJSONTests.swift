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
}
