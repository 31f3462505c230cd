import Foundation

/// Which detector produced a score; every score says.
public enum DetectionMethod: String, Codable, Sendable, CaseIterable {
    case isolationForest = "isolation_forest"
    /// An untrained asset with under `SmallSample.tailFitHistory` samples: the t prediction.
    case zScore = "zscore"
    /// No longer fires (IQR fences, before every path was calibrated); kept to read stored rows.
    case iqr
    /// An untrained asset: the distance from its recent median against the fitted tail of distances.
    case mad
    case flatline
    /// A trained asset's metric far from its daily profile in one sample (spikes).
    case residual
    /// A trained asset's metric away from its daily profile for several samples in a row.
    case levelShift = "level_shift"
}

/// Order statistics for the fallback detectors (`AssetDetector+Fallback.swift`), and the older
/// z scale that models trained before calibration still report on.
public enum StatisticalDetectors {
    /// The scale of models trained before calibration: `z^2 / (z^2 + 6)`, so |z| = 3 is 0.6.
    public static func score(fromZ z: Double) -> Double {
        guard z.isFinite else { return z.isNaN ? 0 : 1 }
        let z2 = z * z
        return z2 / (z2 + 6)
    }

    /// Flatline on the older scale: a run of exactly `minimumRun` equal values reads as z = 3.
    static func flatlineZ(run: Int, minimumRun: Int) -> Double {
        run >= minimumRun ? 3 * Double(run) / Double(minimumRun) : 0
    }

    /// numpy's linear quantile of |value - center| over sorted values (`quantile` of the distances,
    /// the same arithmetic), found by walking the two sorted halves outwards from `center` up to the
    /// rank it needs: no array of distances, since this runs for every sample and metric.
    static func distanceQuantile(_ sorted: [Double], from center: Double, _ q: Double) -> Double {
        distanceQuantiles(sorted, from: center, (q, q, q)).0
    }

    /// Three such quantiles (ascending levels) in one walk.
    static func distanceQuantiles(_ sorted: [Double], from center: Double, _ q: (Double, Double, Double)) -> (Double, Double, Double) {
        guard !sorted.isEmpty else { return (.nan, .nan, .nan) }
        let last = Double(sorted.count - 1)
        let positions = (q.0 * last, q.1 * last, q.2 * last)
        let lowers = (Int(positions.0.rounded(.down)), Int(positions.1.rounded(.down)), Int(positions.2.rounded(.down)))
        let top = min(lowers.2 + 1, sorted.count - 1)
        var found = (0.0, 0.0, 0.0)
        var previous = 0.0
        var right = sorted.partitioningIndex { $0 >= center }
        var left = right - 1
        var rank = 0
        // Each level's value interpolates the distances at ranks lower and lower + 1 (clamped).
        let at = { (distance: Double, previous: Double, rank: Int, lower: Int, position: Double) -> Double? in
            let upper = min(lower + 1, sorted.count - 1)
            guard rank == upper else { return nil }
            let low = upper == lower ? distance : previous
            return low + (distance - low) * (position - Double(lower))
        }
        while rank <= top {
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
            if let v = at(distance, previous, rank, lowers.0, positions.0) { found.0 = v }
            if let v = at(distance, previous, rank, lowers.1, positions.1) { found.1 = v }
            if let v = at(distance, previous, rank, lowers.2, positions.2) { found.2 = v }
            previous = distance
            rank += 1
        }
        return found
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
