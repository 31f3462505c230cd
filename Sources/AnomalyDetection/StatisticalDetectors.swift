import Foundation

/// Which detector produced a score; every score says.
public enum DetectionMethod: String, Codable, Sendable, CaseIterable {
    case isolationForest = "isolation_forest"
    case zScore = "zscore"
    case iqr
    case mad
    case flatline
    /// A trained asset's metric far from its daily profile in one sample (spikes).
    case residual
    /// A trained asset's metric away from its daily profile for several samples in a row.
    case levelShift = "level_shift"
}

/// Statistical detectors used where an asset has no trained model or too little history, and
/// the flatline detector that covers the Isolation Forest's blind spot (stuck values).
///
/// Every detector maps its statistic to a score in [0, 1) with the same curve,
/// `z^2 / (z^2 + 6)`, so that the classic cut-offs (|z| = 3, robust |z| = 3, 1.5 IQR beyond the
/// quartiles) all land on 0.6, the default `ANOMALY_THRESHOLD`.
public enum StatisticalDetectors {
    public static func score(fromZ z: Double) -> Double {
        guard z.isFinite else { return z.isNaN ? 0 : 1 }
        let z2 = z * z
        return z2 / (z2 + 6)
    }

    /// |x - mean| / std over `history` (population std). Nil when the history is too short or flat.
    public static func zScore(_ x: Double, history: [Double]) -> Double? {
        guard history.count >= 3 else { return nil }
        let mean = history.reduce(0, +) / Double(history.count)
        let variance = history.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(history.count)
        guard variance > 0 else { return x == mean ? 0 : .infinity }
        return abs(x - mean) / variance.squareRoot()
    }

    /// Distance beyond the quartile fences in IQR units, doubled so 1.5 IQR reads as z = 3.
    public static func iqrZ(_ x: Double, history: [Double]) -> Double? {
        guard history.count >= 4 else { return nil }
        let sorted = history.sorted()
        let q1 = quantile(sorted, 0.25), q3 = quantile(sorted, 0.75)
        let iqr = q3 - q1
        guard iqr > 0 else { return x >= q1 && x <= q3 ? 0 : .infinity }
        let beyond = max(0, q1 - x, x - q3)
        return 2 * beyond / iqr
    }

    /// Robust z: 0.6745 (x - median) / MAD.
    public static func madZ(_ x: Double, history: [Double]) -> Double? {
        guard history.count >= 3 else { return nil }
        let median = quantile(history.sorted(), 0.5)
        let deviations = history.map { abs($0 - median) }.sorted()
        let mad = quantile(deviations, 0.5)
        guard mad > 0 else { return x == median ? 0 : .infinity }
        return 0.6745 * abs(x - median) / mad
    }

    /// Flatline: the metric has not moved over its last `run` samples (including `x`) although
    /// it normally varies. The statistic grows with the length of the stuck run relative to
    /// `minimumRun`; nil when the history cannot tell.
    public static func flatlineZ(_ x: Double, history: [Double], minimumRun: Int = 8) -> Double? {
        guard history.count >= 2 * minimumRun else { return nil }
        var run = 1
        for value in history.reversed() {
            guard abs(value - x) <= 1e-9 * max(1, abs(x)) else { break }
            run += 1
        }
        let earlier = history.dropLast(max(0, run - 1))
        guard earlier.count >= minimumRun else { return nil }
        let mean = earlier.reduce(0, +) / Double(earlier.count)
        let variance = earlier.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(earlier.count)
        guard variance > 0, run >= minimumRun else { return 0 }
        // A run of exactly `minimumRun` reads as z = 3; longer runs more.
        return 3 * Double(run) / Double(minimumRun)
    }

    /// numpy's linear quantile of sorted values.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
