import ComputeSupport
import Foundation


/// A clean two-metric 5-minute series with a daily cycle: `load` with normal noise, `traffic`
/// with heavy-tailed (Student t, 3 degrees of freedom) noise. Anomalies are added by each test.
struct SeasonalSeries {
    static let metrics = ["load", "traffic"]
    var rows: [[Double]] = []
    var times: [Date] = []

    init(count: Int, first: Int = 0, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let start = Date(timeIntervalSince1970: 1_767_571_200)
        for i in first..<(first + count) {
            let angle = 2 * Double.pi * Double(i) / 288
            let chi2 = (0..<3).reduce(0.0) { sum, _ in let g = Self.gaussian(&rng); return sum + g * g }
            rows.append([40 + 12 * sin(angle) + 3 * Self.gaussian(&rng), 400 + 150 * sin(angle - 0.5) + 25 * Self.gaussian(&rng) / (chi2 / 3).squareRoot()])
            times.append(start.addingTimeInterval(Double(i) * 300))
        }
    }

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.nextUnit(), 1e-300), v = rng.nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
