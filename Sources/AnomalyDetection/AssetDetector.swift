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

/// Scores an asset's samples: the trained Isolation Forest when there is one, statistical
/// detectors (z-score; MAD and IQR fences once there are 10 samples of history) when there is not, and the
/// flatline detector always, because a forest cannot see a metric stuck at a plausible value.
/// The sample's score is the highest; `method` names which detector gave it. A model trained
/// with calibration (`AssetModel`) scores on residuals from its daily profile, with every
/// detector on one calibrated scale (`AssetDetector+Calibrated.swift`).
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

    /// Statistics of a metric's recent window, refreshed every `refreshEvery` samples (sorting a
    /// window per sample would make big batches quadratic).
    static let refreshEvery = 64

    private struct WindowStats {
        var count = 0
        var mean = 0.0
        var std = 0.0
        var median = 0.0
        var mad = 0.0
        var q1 = 0.0
        var q3 = 0.0

        init(_ values: ArraySlice<Double>) {
            count = values.count
            guard count > 0 else { return }
            mean = values.reduce(0, +) / Double(count)
            std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count)).squareRoot()
            let sorted = values.sorted()
            median = StatisticalDetectors.quantile(sorted, 0.5)
            q1 = StatisticalDetectors.quantile(sorted, 0.25)
            q3 = StatisticalDetectors.quantile(sorted, 0.75)
            mad = StatisticalDetectors.quantile(values.map { abs($0 - median) }.sorted(), 0.5)
        }
    }

    /// Scores `samples` (rows of metric values in `metrics` order, oldest first; NaN = absent)
    /// after `history`. A calibrated detector reads the times (one per row) for the daily
    /// profile; without them it expects each metric's daily median.
    public func score(history: [[Double]], samples: [[Double]], historyTimes: [Date] = [], sampleTimes: [Date] = []) -> [Detection] {
        if let calibration, let forest {
            return scoreCalibrated(calibration, forest: forest, history: history, samples: samples, historyTimes: historyTimes, sampleTimes: sampleTimes)
        }
        var forestScores: [Double]?
        if let forest {
            forestScores = forest.anomalyScores(window.rows(history: history, samples: samples), rows: samples.count)
        }
        let keep = max(Self.statisticalHistory, 4 * flatlineRun)
        // Per metric: recent present values, the current run of equal values, the window stats.
        var columns: [[Double]] = metrics.indices.map { m in Array(history.map { $0[m] }.filter { !$0.isNaN }.suffix(keep)) }
        var runs: [Int] = columns.map { column in
            guard let last = column.last else { return 0 }
            return column.reversed().prefix { Self.same($0, last) }.count
        }
        var stats: [WindowStats] = columns.map { WindowStats($0[...]) }
        var out: [Detection] = []
        out.reserveCapacity(samples.count)
        for (index, sample) in samples.enumerated() {
            if index > 0, index % Self.refreshEvery == 0 {
                for m in metrics.indices {
                    if columns[m].count > 2 * keep { columns[m].removeFirst(columns[m].count - keep) }
                    stats[m] = WindowStats(columns[m].suffix(keep))
                }
            }
            var components: [String: Double] = [:]
            var best: (score: Double, method: DetectionMethod, metric: String?) = (0, forest == nil ? .zScore : .isolationForest, nil)
            if let forestScores {
                best = (forestScores[index], .isolationForest, nil)
                components[DetectionMethod.isolationForest.rawValue] = forestScores[index]
            }
            for (m, name) in metrics.enumerated() {
                let value = sample[m]
                guard !value.isNaN else { continue }
                let run = (columns[m].last.map { Self.same($0, value) } ?? false) ? runs[m] + 1 : 1
                // Flatline: stuck for `flatlineRun` samples although the metric normally varies.
                if stats[m].count >= 2 * flatlineRun, stats[m].std > 0 {
                    let z = run >= flatlineRun ? 3 * Double(run) / Double(flatlineRun) : 0
                    let s = StatisticalDetectors.score(fromZ: z)
                    components[DetectionMethod.flatline.rawValue] = max(components[DetectionMethod.flatline.rawValue] ?? 0, s)
                    if s > best.score { best = (s, .flatline, name) }
                }
                if forest == nil, stats[m].count >= 3 {
                    let method: DetectionMethod = stats[m].count >= 10 ? .mad : .zScore
                    let z: Double
                    if method == .mad {
                        z = stats[m].mad > 0 ? 0.6745 * abs(value - stats[m].median) / stats[m].mad : (value == stats[m].median ? 0 : .infinity)
                    } else {
                        z = stats[m].std > 0 ? abs(value - stats[m].mean) / stats[m].std : (value == stats[m].mean ? 0 : .infinity)
                    }
                    let s = StatisticalDetectors.score(fromZ: z)
                    components[method.rawValue] = max(components[method.rawValue] ?? 0, s)
                    if s > best.score || (best.metric == nil && best.score == 0) { best = (s, method, name) }
                    // IQR fences as a second opinion once the window can have quartiles.
                    if stats[m].count >= 10 {
                        let iqr = stats[m].q3 - stats[m].q1
                        let beyond = max(0, stats[m].q1 - value, value - stats[m].q3)
                        let iz = iqr > 0 ? 2 * beyond / iqr : (beyond == 0 ? 0 : .infinity)
                        let si = StatisticalDetectors.score(fromZ: iz)
                        components[DetectionMethod.iqr.rawValue] = max(components[DetectionMethod.iqr.rawValue] ?? 0, si)
                        if si > best.score { best = (si, .iqr, name) }
                    }
                }
                runs[m] = run
                columns[m].append(value)
                if index < Self.refreshEvery, stats[m].count < 10 { stats[m] = WindowStats(columns[m].suffix(keep)) }
            }
            out.append(Detection(score: best.score, isAnomaly: best.score >= threshold, method: best.method, metric: best.metric, components: components))
        }
        return out
    }

    static func same(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 * max(1, abs(b)) }
}
