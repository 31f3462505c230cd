import Foundation
import Testing

@testable import AnomalyDetection

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
    }
}
