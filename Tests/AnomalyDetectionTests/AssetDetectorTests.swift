import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

@Suite("AssetDetector")
struct AssetDetectorTests {
    /// On the EMS series, stuck (flatlined) metrics are nearly invisible to a plain Isolation
    /// Forest; forest + flatline detector finds them, and says which detector fired.
    @Test func testFlatlineDetectorBeatsPlainForestOnStuckValues() throws {
        let set = try IsolationForestParityTests.load("ems_series")
        let kinds = try #require(set.kinds)
        let train = Array(set.rows.prefix(300))  // clean warm-up, as a trained asset would have
        let forest = try IsolationForest.fit(train.flatMap { $0 }, rows: train.count, featureCount: 5, parameters: .init(seed: 1))
        let detector = AssetDetector(metrics: set.feature_names, window: FeatureWindow(metrics: set.feature_names, window: 0), forest: forest, threshold: 0.6)
        let samples = Array(set.rows.dropFirst(300))
        let results = detector.score(history: train, samples: samples)
        let plain = forest.anomalyScores(samples.flatMap { $0 }, rows: samples.count)

        // Stuck samples against normal ones (other anomaly kinds left out).
        let subset = samples.indices.filter { kinds[$0 + 300] == "stuck" || kinds[$0 + 300] == "" }
        let labels = subset.map { kinds[$0 + 300] == "stuck" ? 1 : 0 }
        let plainAUC = IsolationForestParityTests.auc(subset.map { plain[$0] }, labels)
        let combinedAUC = IsolationForestParityTests.auc(subset.map { results[$0].score }, labels)
        print("stuck values: plain forest ROC AUC \(plainAUC), forest + flatline \(combinedAUC)")
        #expect(combinedAUC > plainAUC + 0.15)
        let stuckFlagged = subset.filter { kinds[$0 + 300] == "stuck" && results[$0].isAnomaly }
        #expect(stuckFlagged.allSatisfy { results[$0].method == .flatline })
        #expect(!stuckFlagged.isEmpty)
    }

    @Test func testWithoutAModelStatisticalDetectorsScoreAndNameThemselves() {
        var rng = SplitMix64(seed: 3)
        let history = (0..<100).map { _ in [50 + rng.nextUnit() * 10, 5 + rng.nextUnit()] }
        let detector = AssetDetector(metrics: ["cpu", "latency"], window: FeatureWindow(metrics: ["cpu", "latency"], window: 0), forest: nil, threshold: 0.6)
        let results = detector.score(history: history, samples: [[55, 5.5], [56, 40]])
        #expect(results[0].isAnomaly == false)
        #expect(results[1].isAnomaly)
        #expect(results[1].method == .mad && results[1].metric == "latency")
        #expect(results[1].components["mad"] != nil && results[1].components["iqr"] == nil)
        #expect(results[1].contributions["latency"] == results[1].score && (results[1].contributions["cpu"] ?? 1) < 0.3, "\(results[1])")
        let early = detector.score(history: Array(history.prefix(5)), samples: [[55, 5.5]])
        #expect(early[0].method == .zScore)
    }

    @Test func testFeatureWindowIsTheSameAtTrainingAndScoring() {
        let window = FeatureWindow(metrics: ["a"], window: 3)
        let series: [[Double]] = [[1], [2], [4], [8], [16]]
        let all = window.rows(history: [], samples: series)
        let split = window.rows(history: Array(series.prefix(2)), samples: Array(series.suffix(3)))
        #expect(Array(all.suffix(split.count)) == split)
        #expect(window.featureNames == ["a", "a_mean_3", "a_std_3", "a_min_3", "a_max_3", "a_delta"])
        #expect(Array(all.suffix(6)) == [16, 28.0 / 3, (((16 - 28.0 / 3) * (16 - 28.0 / 3) + (8 - 28.0 / 3) * (8 - 28.0 / 3) + (4 - 28.0 / 3) * (4 - 28.0 / 3)) / 3).squareRoot(), 4, 16, 8])
    }
}
