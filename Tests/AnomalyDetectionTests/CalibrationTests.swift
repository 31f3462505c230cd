import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

@Suite("Calibrated scores")
struct CalibrationTests {
    /// The tail fit reads the body, so anomalies in the history do not make themselves look
    /// common. On clean exponential and heavy-tailed (Pareto) values the estimated tail at the
    /// 1 % and 0.1 % quantiles is within a factor of 3 of the truth; with 7 % far-out values
    /// mixed in it errs only on the safe side (more common than true: fewer false alarms, less
    /// recall). Fitting the tail itself would call the outliers common.
    @Test(arguments: ["exponential", "pareto"])
    func testTailFitIsCloseToTheCleanTailAndSafeDespiteContamination(shape: String) {
        var rng = SplitMix64(seed: 7)
        let clean = (0..<20_000).map { _ in
            let u = max(rng.nextUnit(), 1e-12)
            return shape == "exponential" ? -log(u) : pow(u, -1.0 / 3) - 1
        }
        let outliers = (0..<1_500).map { _ in 30 + 10 * rng.nextUnit() }
        let sorted = clean.sorted()
        for p in [1e-2, 1e-3] {
            let x = StatisticalDetectors.quantile(sorted, 1 - p)
            let estimate = TailFit(clean).tail(x)
            #expect(estimate > p / 3 && estimate < p * 3, "\(shape): tail at the \(1 - p) quantile \(x) estimated \(estimate), true \(p)")
            let contaminated = TailFit(clean + outliers).tail(x)
            #expect(contaminated >= p, "\(shape), contaminated: estimated \(contaminated), true \(p)")
        }
        #expect(TailFit(clean).tail(TailFit(clean).anchor) == 0.5)
    }

    /// The contract in the README: on an asset's normal behaviour, a detector passes threshold t
    /// on at most 10^(-5t) of the samples (within a factor of 2), and the per-metric detectors
    /// not by much less (a budget, not a wall). Held-out normal data, both metrics.
    @Test func testFlaggedFractionOnNormalDataKeepsToTheBudget() throws {
        let train = SeasonalSeries(count: 8_064, seed: 1)
        let test = SeasonalSeries(count: 8_064, first: 8_064, seed: 2)
        let model = try AssetModel.fit(train.rows, times: train.times, metrics: SeasonalSeries.metrics, window: 0, parameters: .init(seed: 3))
        let results = AssetDetector(model: model, threshold: 0.6).score(history: [], samples: test.rows, sampleTimes: test.times)
        for t in [0.3, 0.4, 0.6] {
            let budget = CalibratedScore.tail(score: t)
            for method in [DetectionMethod.isolationForest, .residual, .levelShift] {
                let rate = Double(results.filter { ($0.components[method.rawValue] ?? 0) >= t }.count) / Double(results.count)
                #expect(rate <= 2 * budget, "\(method) at \(t): \(rate) flagged, budget \(budget)")
                // The forest's tail is extrapolated conservatively (measured: none flagged at 0.4).
                if t <= 0.4, method != .isolationForest { #expect(rate >= budget / 3, "\(method) at \(t): \(rate) flagged, budget \(budget): too timid") }
            }
        }
        let flagged = Double(results.filter(\.isAnomaly).count) / Double(results.count)
        #expect(flagged <= 0.01, "\(flagged) of normal samples flagged at 0.6")
    }

    /// A level shift is flagged from the sample after onset until the level returns, across
    /// request boundaries, by `level_shift` naming the metric; one spike on the heavy-tailed
    /// metric is flagged by `residual` and does not read as a shift.
    @Test func testLevelShiftStaysFlaggedAcrossRequestsAndSpikesDoNot() throws {
        let train = SeasonalSeries(count: 4_032, seed: 4)
        var test = SeasonalSeries(count: 400, first: 4_032, seed: 5)
        for i in 100..<160 { test.rows[i][0] += 25 }
        test.rows[300][1] += 600
        let model = try AssetModel.fit(train.rows, times: train.times, metrics: SeasonalSeries.metrics, window: 0, parameters: .init(seed: 3))
        let detector = AssetDetector(model: model, threshold: 0.6)
        var results: [Detection] = []
        for first in stride(from: 0, to: 400, by: 50) {  // requests of 50 samples, history from before
            let from = max(0, first - AssetDetector.statisticalHistory)
            results += detector.score(
                history: Array(test.rows[from..<first]), samples: Array(test.rows[first..<(first + 50)]),
                historyTimes: Array(test.times[from..<first]), sampleTimes: Array(test.times[first..<(first + 50)]))
        }
        #expect(results[101...159].allSatisfy { $0.isAnomaly })
        #expect(results[110...159].allSatisfy { $0.method == .levelShift && $0.metric == "load" })
        #expect(results[165..<295].filter { $0.isAnomaly }.count <= 1, "the level returned")
        #expect(results[300].isAnomaly && results[300].method == .residual && results[300].metric == "traffic")
        #expect(!results[301].isAnomaly && (results[301].components["level_shift"] ?? 1) < 0.6)
        #expect((results[300].contributions["traffic"] ?? 0) > (results[300].contributions["load"] ?? 1))
    }

    /// The calibration travels in the artifact: read back, the model scores identically; a bare
    /// forest (artifacts written before calibration) still reads, uncalibrated.
    @Test func testArtifactRoundTripAndOldForests() throws {
        let train = SeasonalSeries(count: 1_000, seed: 6)
        let model = try AssetModel.fit(train.rows, times: train.times, metrics: SeasonalSeries.metrics, window: 2, parameters: .init(nEstimators: 20))
        let read = try AssetModel(serialized: model.serialized(), metrics: [], window: 0)
        #expect(read.calibration == model.calibration && read.metrics == SeasonalSeries.metrics && read.window == model.window)
        let sample = Array(train.rows.suffix(30)), times = Array(train.times.suffix(30))
        #expect(
            AssetDetector(model: read, threshold: 0.6).score(history: [], samples: sample, sampleTimes: times)
                == AssetDetector(model: model, threshold: 0.6).score(history: [], samples: sample, sampleTimes: times))
        let old = try AssetModel(serialized: model.forest.serialized(), metrics: SeasonalSeries.metrics, window: 2)
        #expect(old.calibration == nil)
        #expect(throws: IsolationForest.FormatError.self) { try AssetModel(serialized: Array(model.serialized().dropLast(3)), metrics: [], window: 0) }
    }
}
