import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

/// A sample's score depends on the samples before it only. The fallback detectors' statistics were
/// refreshed every 64 samples of a batch, so 150 samples of Gaussian noise for a new asset were
/// flagged 47 times in one batch, 21 in batches of 10 and 14 one by one.
@Suite("Scores independent of batching (detector)")
struct BatchingTests {
    static let metrics = ["cpu_pct", "latency_ms", "errors"]

    static func series(_ count: Int, seed: UInt64) -> [[Double]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let z = (-2 * log(max(rng.nextUnit(), 1e-300))).squareRoot() * cos(2 * .pi * rng.nextUnit())
            let u = rng.nextUnit()
            var row = [40 + 5 * z, 20 + 4 * rng.nextUnit(), u < 0.9 ? 0 : 1]
            if i % 53 == 20 { row[0] += 80 }  // 16 sigma: an untrained asset's fallback assumes heavy tails
            if (400..<420).contains(i) { row[1] = 21.5 }  // stuck
            if i == 300 { row[2] = .nan }  // a sample without one metric
            return row
        }
    }

    /// One batch, and batches of 1, 10, 64 and 333, each given the samples before it as history
    /// (as the service reads them from the store), score every sample alike.
    @Test func testScoresDoNotDependOnBatching() {
        let samples = Self.series(700, seed: 28)
        let detector = AssetDetector(metrics: Self.metrics, window: FeatureWindow(metrics: Self.metrics, window: 0), forest: nil, threshold: 0.6)
        let whole = detector.score(history: [], samples: samples)
        #expect(whole.contains { $0.method == .flatline && $0.isAnomaly } && whole.contains { $0.method != .flatline && $0.isAnomaly })
        for size in [1, 10, 64, 333] {
            var pieces: [Detection] = []
            for start in stride(from: 0, to: samples.count, by: size) {
                let history = Array(samples[max(0, start - AssetDetector.statisticalHistory)..<start])
                pieces += detector.score(history: history, samples: Array(samples[start..<min(samples.count, start + size)]))
            }
            #expect(pieces == whole, "batches of \(size): \(zip(pieces, whole).filter { $0 != $1 }.count) samples differ")
        }
    }
}
