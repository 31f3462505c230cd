import Foundation

/// Scoring an asset without a trained model, on the calibrated scale (`CalibratedScore`): per
/// metric, over its last `statisticalHistory` samples (the stored history, then each scored
/// sample after its score):
/// - `zscore`, with 3 to `SmallSample.tailFitHistory - 1` samples: the Student t prediction
///   (mean and standard deviation estimated from so few samples, and said so);
/// - `mad`, with more: the distance from the window's median against a tail fitted to the
///   window's own distances (`TailFit` through their median, 75th and 90th percentiles, read as
///   more uncertain the fewer samples there are), so heavy-tailed metrics keep their budget;
/// - `flatline`: the value repeating for longer than the window's repeats make likely.
/// Both read the window's body only (mean and spread, or quantiles up to the 90th), so earlier
/// anomalies in the window do not make the next one look ordinary. A window whose body ties (the
/// median and 75th percentile of the distances equal: a count that is mostly zero) says nothing
/// of its tail: there `p` is the exchangeable chance (1 + samples at least as far out) / (n + 1). Each `p` is
/// multiplied by the number of metrics, as the trained detectors do.
extension AssetDetector {
    func scoreFallback(history: [[Double]], samples: [[Double]]) -> [Detection] {
        let keep = Self.statisticalHistory
        let metricCount = Double(metrics.count)
        var windows = metrics.indices.map { _ in MetricWindow(capacity: keep) }
        for row in history.suffix(keep) {
            for m in metrics.indices { windows[m].append(row[m]) }
        }
        let keys = metrics.map { Detection.contributionPrefix + $0 }
        var out: [Detection] = []
        out.reserveCapacity(samples.count)
        for sample in samples {
            var components: [String: Double] = [:]
            var best: (score: Double, method: DetectionMethod, metric: String?) = (0, .zScore, nil)
            for (m, name) in metrics.enumerated() {
                let value = sample[m]
                guard !value.isNaN else {
                    windows[m].append(.nan)
                    continue
                }
                let w = windows[m]
                var contribution: Double?
                if let (p, method) = Self.distanceTail(value, sorted: w.sorted) {
                    let s = CalibratedScore.score(tail: min(1, p * metricCount))
                    components[method.rawValue] = max(components[method.rawValue] ?? 0, s)
                    contribution = s
                    if s > best.score || (best.metric == nil && best.score == 0) { best = (s, method, name) }
                }
                let run = w.run(after: value)
                if run >= 2, let evidence = w.repeatEvidence(value, run: run) {
                    let p = SmallSample.repeatRun(run - 1, repeats: evidence.repeats, pairs: evidence.pairs) * metricCount
                    let s = CalibratedScore.score(tail: min(1, p))
                    components[DetectionMethod.flatline.rawValue] = max(components[DetectionMethod.flatline.rawValue] ?? 0, s)
                    contribution = max(contribution ?? 0, s)
                    if s > best.score { best = (s, .flatline, name) }
                }
                // A metric's contribution, once a detector could judge it.
                if let contribution { components[keys[m]] = contribution }
                windows[m].append(value)
            }
            out.append(Detection(score: best.score, isAnomaly: best.score >= threshold, method: best.method, metric: best.metric, components: components))
        }
        return out
    }

    /// The chance that an ordinary sample lies at least as far out as `x`, from the window's
    /// present values (sorted), and the detector that says so; nil under 3 values.
    static func distanceTail(_ x: Double, sorted: [Double]) -> (Double, DetectionMethod)? {
        let n = sorted.count
        guard n >= 3 else { return nil }
        let center: Double, method: DetectionMethod
        var parametric: Double?
        if n < SmallSample.tailFitHistory {
            let mean = sorted.reduce(0, +) / Double(n)
            let variance = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
            center = mean
            if variance > 0 {
                parametric = SmallSample.tPrediction(x, mean: mean, sampleStd: variance.squareRoot(), n: n, maximumDegrees: SmallSample.referenceDegrees)
            }
            method = .zScore
        } else {
            center = StatisticalDetectors.quantile(sorted, 0.5)
            let q = StatisticalDetectors.distanceQuantiles(sorted, from: center, (0.5, 0.75, 0.9))
            if q.1 - q.0 > 1e-9 * max(1, abs(center)) {
                parametric = TailFit(quantiles: q, tails: SmallSample.bodyTails(n: n), minimumShape: SmallSample.minimumShape).tail(abs(x - center))
            }
            method = .mad
        }
        if let parametric { return (parametric, method) }
        // Samples of the window at least as far from the center as x.
        let d = abs(x - center)
        let below = sorted.partitioningIndex { $0 > center - d }
        let above = n - sorted.partitioningIndex { $0 >= center + d }
        return (Double(1 + min(n, below + above)) / Double(n + 1), method)
    }
}
