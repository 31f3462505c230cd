import Foundation

/// One scored sample.
public struct Detection: Sendable, Equatable {
    /// 0...1, higher is more anomalous.
    public let score: Double
    public let isAnomaly: Bool
    /// The detector whose score this is (the highest of those that ran).
    public let method: DetectionMethod
    /// The metric that drove the score, for per-metric detectors (flatline, z-score, MAD).
    public let metric: String?
    /// Every detector's score for this sample, by method name.
    public let components: [String: Double]
}

/// Scores an asset's samples. A model trained with calibration (`AssetModel`) scores on residuals
/// from its daily profile (`AssetDetector+Calibrated.swift`); an asset without a model is scored
/// by the fallback detectors on its recent samples (`AssetDetector+Fallback.swift`); both report
/// on one calibrated scale, so one threshold is one false-alarm budget. A model read from an
/// artifact trained before calibration existed keeps the older scale: its forest plus a flatline
/// detector (a forest cannot see a metric stuck at a plausible value). The sample's score is the
/// highest detector's; `method` names it. A sample's score depends only on the samples before it
/// and on itself, never on how the client batched them.
public struct AssetDetector: Sendable {
    public let metrics: [String]
    public let window: FeatureWindow
    public let forest: IsolationForest?
    /// The trained model's calibration: when present, every detector reports on `CalibratedScore`'s scale.
    public let calibration: AssetCalibration?
    public let threshold: Double
    /// Samples a metric must repeat exactly before the flatline detector reads it as z = 3.
    public let flatlineRun: Int
    /// History used by the statistical detectors.
    public static let statisticalHistory = 200

    public init(metrics: [String], window: FeatureWindow, forest: IsolationForest?, threshold: Double, flatlineRun: Int = 8) {
        self.metrics = metrics
        self.window = window
        self.forest = forest
        self.calibration = nil
        self.threshold = threshold
        self.flatlineRun = flatlineRun
    }

    /// A trained asset's detector; a model read from an artifact without calibration scores as before.
    public init(model: AssetModel, threshold: Double, flatlineRun: Int = 8) {
        self.metrics = model.metrics
        self.window = model.window
        self.forest = model.forest
        self.calibration = model.calibration
        self.threshold = threshold
        self.flatlineRun = flatlineRun
    }

    /// Scores `samples` (rows of metric values in `metrics` order, oldest first; NaN = absent)
    /// after `history`. A calibrated detector reads the times (one per row) for the daily
    /// profile; without them it expects each metric's daily median.
    public func score(history: [[Double]], samples: [[Double]], historyTimes: [Date] = [], sampleTimes: [Date] = []) -> [Detection] {
        if let calibration, let forest {
            return scoreCalibrated(calibration, forest: forest, history: history, samples: samples, historyTimes: historyTimes, sampleTimes: sampleTimes)
        }
        guard let forest else { return scoreFallback(history: history, samples: samples) }
        let forestScores = forest.anomalyScores(window.rows(history: history, samples: samples), rows: samples.count)
        // Per metric, the window of the `keep` samples before the one scored: the history's last
        // ones first, then each scored sample joins it after its score.
        let keep = max(Self.statisticalHistory, 4 * flatlineRun)
        var windows = metrics.indices.map { _ in MetricWindow(capacity: keep) }
        for row in history.suffix(keep) {
            for m in metrics.indices { windows[m].append(row[m]) }
        }
        var out: [Detection] = []
        out.reserveCapacity(samples.count)
        for (index, sample) in samples.enumerated() {
            var components: [String: Double] = [:]
            var best: (score: Double, method: DetectionMethod, metric: String?) = (forestScores[index], .isolationForest, nil)
            components[DetectionMethod.isolationForest.rawValue] = forestScores[index]
            for (m, name) in metrics.enumerated() {
                let value = sample[m]
                guard !value.isNaN else { continue }
                let w = windows[m]
                let n = w.sorted.count
                let run = w.run(after: value)
                let varies = n > 0 && w.sorted[0] != w.sorted[n - 1]
                // Flatline: stuck for `flatlineRun` samples although the metric normally varies.
                if n >= 2 * flatlineRun, varies {
                    let s = StatisticalDetectors.score(fromZ: StatisticalDetectors.flatlineZ(run: run, minimumRun: flatlineRun))
                    components[DetectionMethod.flatline.rawValue] = max(components[DetectionMethod.flatline.rawValue] ?? 0, s)
                    if s > best.score { best = (s, .flatline, name) }
                }
                windows[m].append(value)
            }
            // Absent metrics take their place in the windows too (a window is of samples).
            for m in metrics.indices where sample[m].isNaN { windows[m].append(.nan) }
            out.append(Detection(score: best.score, isAnomaly: best.score >= threshold, method: best.method, metric: best.metric, components: components))
        }
        return out
    }

    static func same(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 * max(1, abs(b)) }
}
