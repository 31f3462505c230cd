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

    /// |x - mean| / std over the window's values (population std), 3 or more of them.
    static func zScore(_ x: Double, sorted: [Double]) -> Double {
        let n = Double(sorted.count)
        let mean = sorted.reduce(0, +) / n
        let variance = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        guard variance > 0 else { return x == mean ? 0 : .infinity }
        return abs(x - mean) / variance.squareRoot()
    }

    /// Robust z: 0.6745 |x - median| / MAD, over the window's values (sorted).
    static func madZ(_ x: Double, sorted: [Double]) -> Double {
        let median = quantile(sorted, 0.5)
        let mad = distanceQuantile(sorted, from: median, 0.5)
        guard mad > 0 else { return x == median ? 0 : .infinity }
        return 0.6745 * abs(x - median) / mad
    }

    /// Distance beyond the quartile fences in IQR units, doubled so 1.5 IQR reads as z = 3.
    static func iqrZ(_ x: Double, sorted: [Double]) -> Double {
        let q1 = quantile(sorted, 0.25), q3 = quantile(sorted, 0.75)
        let iqr = q3 - q1
        let beyond = max(0, q1 - x, x - q3)
        guard iqr > 0 else { return beyond == 0 ? 0 : .infinity }
        return 2 * beyond / iqr
    }

    /// Flatline: a run of `run` equal values (this one included) of a metric that normally
    /// varies; a run of exactly `minimumRun` reads as z = 3, longer runs more.
    static func flatlineZ(run: Int, minimumRun: Int) -> Double {
        run >= minimumRun ? 3 * Double(run) / Double(minimumRun) : 0
    }

    /// numpy's linear quantile of |value - center| over sorted values (`quantile` of the distances,
    /// the same arithmetic), found by walking the two sorted halves outwards from `center` up to the
    /// rank it needs: no array of distances, since this runs for every sample and metric.
    static func distanceQuantile(_ sorted: [Double], from center: Double, _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        var right = sorted.partitioningIndex { $0 >= center }
        var left = right - 1
        var atLower = 0.0
        var rank = 0
        while true {
            let l = left >= 0 ? center - sorted[left] : .infinity
            let r = right < sorted.count ? sorted[right] - center : .infinity
            let distance: Double
            if l <= r {
                distance = l
                left -= 1
            } else {
                distance = r
                right += 1
            }
            if rank == lower { atLower = distance }
            if rank == upper { return atLower + (distance - atLower) * (position - Double(lower)) }
            rank += 1
        }
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

extension Array where Element == Double {
    /// The first index whose element satisfies `belongs`, for a predicate false then true along
    /// the array (binary search).
    func partitioningIndex(where belongs: (Double) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
