import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

/// The daily profile reads a metric whose noise grows with its level (traffic) in logs, so a
/// drop to a tenth is as far out at night as at noon; a metric of even noise keeps its own units.
@Suite("Daily profile")
struct DailyProfileTests {
    /// Two weeks of 5-minute samples: traffic 100-700 through the day with noise proportional
    /// to it, and a load of additive noise.
    static func series(days: Int, seed: UInt64) -> (rows: [[Double]], times: [Date]) {
        var rng = SplitMix64(seed: seed)
        let gaussian = { (r: inout SplitMix64) -> Double in
            (-2 * log(max(r.nextUnit(), 1e-300))).squareRoot() * cos(2 * .pi * r.nextUnit())
        }
        let start = Date(timeIntervalSince1970: 1_767_571_200)
        var rows: [[Double]] = [], times: [Date] = []
        for i in 0..<(days * 288) {
            let angle = 2 * Double.pi * Double(i) / 288
            let traffic = (400 + 300 * sin(angle)) * exp(0.1 * gaussian(&rng))
            let load = 40 + 10 * sin(angle) + 2 * gaussian(&rng)
            rows.append([traffic, load])
            times.append(start.addingTimeInterval(Double(i) * 300))
        }
        return (rows, times)
    }

    @Test func testProportionalNoiseIsReadInLogsAndEvenNoiseIsNot() throws {
        let (rows, times) = Self.series(days: 14, seed: 2)
        let profile = DailyProfile.fit(rows, times: times)
        let floors = try #require(profile.logFloors)
        #expect(floors[0] > 0 && floors[1] == 0, "\(floors)")

        // A drop to a tenth of the traffic, at its quietest and at its busiest hour.
        let quiet = times[288 * 14 - 288 + 216], busy = times[288 * 14 - 288 + 72]  // sin = -1 and +1
        let expected = { (t: Date) in 400 + 300 * sin(2 * Double.pi * Double(Int(t.timeIntervalSince(times[0]) / 300)) / 288) }
        let z = profile.residuals([[expected(quiet) / 10, 40], [expected(busy) / 10, 40]], times: [quiet, busy])
        #expect(abs(z[0][0] - z[1][0]) < 0.25 * abs(z[1][0]), "a drop to a tenth reads alike at night and at noon: \(z)")
        #expect(z[0][0] < -10)
        // A reading of zero (a dead link) is far out too, not a logarithm of nothing.
        let dead = profile.residuals([[0, 40]], times: [busy])
        #expect(dead[0][0].isFinite && dead[0][0] < z[1][0])
    }

    /// Models trained before logs existed have no `logFloors` and read every metric as itself.
    @Test func testAProfileWithoutLogFloorsReadsMetricsAsThemselves() throws {
        let old = try JSONDecoder().decode(DailyProfile.self, from: Data(#"{"slots":1,"levels":[[10]],"scales":[2]}"#.utf8))
        #expect(old.logFloors == nil)
        #expect(old.residuals([[14]], times: [Date()]) == [[2]])
    }
}
