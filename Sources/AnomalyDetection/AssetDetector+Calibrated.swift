import Foundation

extension Detection {
    /// Keys of `components` that hold a metric's contribution (`metric.cpu_pct`), beside the
    /// detectors' scores; they travel with the detectors' scores in answers and stored rows.
    public static let contributionPrefix = "metric."

    /// Per metric, the highest calibrated score any per-metric detector gave it.
    public var contributions: [String: Double] {
        var out: [String: Double] = [:]
        for (key, value) in components where key.hasPrefix(Self.contributionPrefix) {
            out[String(key.dropFirst(Self.contributionPrefix.count))] = value
        }
        return out
    }
}

/// Scoring with a trained, calibrated model. Per sample, on residuals from the daily profile:
/// - `isolation_forest`: the forest on the residual features (metrics that move together);
/// - `residual`: one metric far out in one sample (a spike);
/// - `level_shift`: the median of a metric's last three residuals far out, so a moved level is
///   flagged from the sample after onset until it returns (a lone spike cannot move a median);
///   the reference is the profile, not recent samples, so a shift is never learnt away by
///   scoring, only by retraining;
/// - `flatline`: a metric repeating its value for longer than its own history makes likely.
/// Each reports `CalibratedScore`; per-metric detectors multiply their tail probability by the
/// number of metrics (any of them could have fired). The sample's score is the highest.
extension AssetDetector {
    func scoreCalibrated(
        _ c: AssetCalibration, forest: IsolationForest, history: [[Double]], samples: [[Double]], historyTimes: [Date], sampleTimes: [Date]
    ) -> [Detection] {
        let profile = c.profile
        let metricCount = Double(metrics.count)
        let span = AssetCalibration.levelSpan
        let past = Array(history.suffix(max(window.window, span - 1)))
        let pastZ = profile.residuals(past, times: historyTimes.count == history.count ? Array(historyTimes.suffix(past.count)) : [])
        let z = profile.residuals(samples, times: sampleTimes)
        let forestScores = forest.anomalyScores(window.rows(history: pastZ, samples: z), rows: samples.count)

        // Per metric: the residuals before this sample (newest last), the last value and its run.
        var before: [[Double]] = metrics.indices.map { m in Array(pastZ.map { $0[m] }.filter { !$0.isNaN }.suffix(span - 1)) }
        var last = [Double](repeating: .nan, count: metrics.count)
        var runs = [Int](repeating: 0, count: metrics.count)
        for m in metrics.indices {
            let column = history.map { $0[m] }.filter { !$0.isNaN }
            guard let value = column.last else { continue }
            last[m] = value
            runs[m] = column.reversed().prefix { Self.same($0, value) }.count
        }
        let keys = metrics.map { Detection.contributionPrefix + $0 }
        var out: [Detection] = []
        out.reserveCapacity(samples.count)
        for (index, sample) in samples.enumerated() {
            let forestScore = CalibratedScore.score(tail: c.forest.tail(forestScores[index]))
            var best: (score: Double, method: DetectionMethod, metric: String?) = (forestScore, .isolationForest, nil)
            var top: (score: Double, metric: String?) = (0, nil)
            var residualScore = 0.0, levelScore = 0.0, flatScore = 0.0
            var components: [String: Double] = [:]
            components.reserveCapacity(4 + metrics.count)
            for (m, name) in metrics.enumerated() {
                let value = sample[m], zm = z[index][m]
                guard !value.isNaN else { continue }
                let r = CalibratedScore.score(tail: c.residual[m].tail(abs(zm)) * metricCount)
                var l = 0.0
                if before[m].count == span - 1 {
                    l = CalibratedScore.score(tail: c.level[m].tail(abs(Self.median3(before[m][0], before[m][1], zm))) * metricCount)
                    before[m].removeFirst()
                }
                before[m].append(zm)
                runs[m] = Self.same(last[m], value) ? runs[m] + 1 : 1
                last[m] = value
                let f = runs[m] >= 2 ? CalibratedScore.score(tail: pow(c.repeatChance[m], Double(runs[m] - 1)) * metricCount) : 0
                residualScore = max(residualScore, r)
                levelScore = max(levelScore, l)
                flatScore = max(flatScore, f)
                let contribution = max(r, l, f)
                components[keys[m]] = contribution
                if contribution > top.score { top = (contribution, name) }
                if l > best.score { best = (l, .levelShift, name) }
                if r > best.score { best = (r, .residual, name) }
                if f > best.score { best = (f, .flatline, name) }
            }
            components[DetectionMethod.isolationForest.rawValue] = forestScore
            components[DetectionMethod.residual.rawValue] = residualScore
            components[DetectionMethod.levelShift.rawValue] = levelScore
            components[DetectionMethod.flatline.rawValue] = flatScore
            out.append(
                Detection(
                    score: best.score, isAnomaly: best.score >= threshold, method: best.method, metric: best.metric ?? top.metric,
                    components: components))
        }
        return out
    }

    @inline(__always)
    static func median3(_ a: Double, _ b: Double, _ c: Double) -> Double { max(min(a, b), min(max(a, b), c)) }
}
