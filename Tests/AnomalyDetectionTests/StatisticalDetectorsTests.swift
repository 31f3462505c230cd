import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

/// The detectors' order statistics against the plain definitions they replace.
@Suite("Statistical detectors")
struct StatisticalDetectorsTests {
    /// `distanceQuantile` walks the sorted values outwards instead of sorting the distances: the
    /// same numbers, bit for bit, as numpy's quantile of the sorted distances, ties and all.
    @Test func testTheDistanceQuantileIsTheQuantileOfTheSortedDistances() {
        var random = SplitMix64(seed: 31)
        for trial in 0..<2000 {
            let count = 1 + trial % 57
            // Few distinct values in some trials: ties on both sides of the center.
            let levels = trial % 3 == 0 ? 4 : 1_000_000
            let sorted = (0..<count).map { _ in Double(Int(random.next() % UInt64(levels))) / 7 }.sorted()
            let centers = [StatisticalDetectors.quantile(sorted, 0.5), sorted[0], sorted[count - 1], sorted[count / 2] + 0.01]
            for center in centers {
                let distances = sorted.map { abs($0 - center) }.sorted()
                for q in [0.5, 0.25, 0.9, 0.0, 1.0] {
                    let expected = StatisticalDetectors.quantile(distances, q)
                    let walked = StatisticalDetectors.distanceQuantile(sorted, from: center, q)
                    #expect(walked.bitPattern == expected.bitPattern, "n=\(count) center=\(center) q=\(q): \(walked) != \(expected)")
                }
            }
        }
        #expect(StatisticalDetectors.distanceQuantile([], from: 0, 0.5).isNaN)
    }
}
