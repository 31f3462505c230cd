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
/// detectors (z-score, then MAD once there is enough history) when there is not, and the
/// flatline detector always, because a forest cannot see a metric stuck at a plausible value.
/// The sample's score is the highest; `method` names which detector gave it.
public struct AssetDetector: Sendable {
    public let metrics: [String]
    public let window: FeatureWindow
    public let forest: IsolationForest?
    public let threshold: Double
    /// Samples a metric must repeat exactly before the flatline detector reads it as z = 3.
    public let flatlineRun: Int
    /// History used by the statistical detectors.
    public static let statisticalHistory = 200

    public init(metrics: [String], window: FeatureWindow, forest: IsolationForest?, threshold: Double, flatlineRun: Int = 8) {
        self.metrics = metrics
        self.window = window
        self.forest = forest
        self.threshold = threshold
        self.flatlineRun = flatlineRun
    }

    /// Scores `samples` (rows of metric values in `metrics` order, oldest first) after `history`.
    public func score(history: [[Double]], samples: [[Double]]) -> [Detection] {
        var forestScores: [Double]?
        if let forest {
            let rows = window.rows(history: history, samples: samples)
            forestScores = forest.anomalyScores(rows, rows: samples.count)
        }
        var series = history.suffix(max(Self.statisticalHistory, 4 * flatlineRun))
        var out: [Detection] = []
        out.reserveCapacity(samples.count)
        for (index, sample) in samples.enumerated() {
            var components: [String: Double] = [:]
            var best: (score: Double, method: DetectionMethod, metric: String?) = (0, forest == nil ? .zScore : .isolationForest, nil)
            if let forestScores {
                best = (forestScores[index], .isolationForest, nil)
                components[DetectionMethod.isolationForest.rawValue] = forestScores[index]
            }
            for (m, name) in metrics.enumerated() {
                let past = series.map { $0[m] }
                if let z = StatisticalDetectors.flatlineZ(sample[m], history: past, minimumRun: flatlineRun) {
                    let s = StatisticalDetectors.score(fromZ: z)
                    components[DetectionMethod.flatline.rawValue] = max(components[DetectionMethod.flatline.rawValue] ?? 0, s)
                    if s > best.score { best = (s, .flatline, name) }
                }
                if forest == nil {
                    let method: DetectionMethod = past.count >= 10 ? .mad : .zScore
                    let z = method == .mad
                        ? StatisticalDetectors.madZ(sample[m], history: Array(past.suffix(Self.statisticalHistory)))
                        : StatisticalDetectors.zScore(sample[m], history: past)
                    if let z {
                        let s = StatisticalDetectors.score(fromZ: z)
                        components[method.rawValue] = max(components[method.rawValue] ?? 0, s)
                        if s > best.score || best.metric == nil && best.score == 0 { best = (s, method, name) }
                    }
                }
            }
            out.append(Detection(score: best.score, isAnomaly: best.score >= threshold, method: best.method, metric: best.metric, components: components))
            series.append(sample)
        }
        return out
    }
}
