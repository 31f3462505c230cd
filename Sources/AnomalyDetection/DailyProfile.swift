import Foundation

/// What each metric of an asset is expected to read at a time of day, and how far it normally
/// strays from that, learned from the asset's training history.
///
/// Detectors look at residuals in robust units, `z = (x - expected(time)) / scale`, instead of
/// raw levels: EMS metrics swing through the day by more than a spike or a level shift moves
/// them, so on raw levels a shift at night looks like an ordinary afternoon. Medians (per slot
/// of the day) and the MAD make the profile robust to the anomalies the history contains.
/// The level is the last day of training's, so retraining after a lasting shift accepts it.
public struct DailyProfile: Codable, Sendable, Equatable {
    /// Slots per day (1 = no daily pattern: too little history to learn one).
    public let slots: Int
    /// Per metric, the expected value at each slot's centre (linearly interpolated between).
    public let levels: [[Double]]
    /// Per metric, 1.4826 x the MAD of the training residuals (a standard deviation for normal noise).
    public let scales: [Double]

    static let day = 86_400.0
    /// Slot counts tried, finest first; a slot needs `samplesPerSlot` training samples.
    static let slotChoices = [96, 48, 24, 12, 6, 1]
    static let samplesPerSlot = 30

    public init(slots: Int, levels: [[Double]], scales: [Double]) {
        self.slots = slots
        self.levels = levels
        self.scales = scales
    }

    /// Fits on `rows` (metric values, oldest first, all finite) taken at `times`.
    public static func fit(_ rows: [[Double]], times: [Date]) -> DailyProfile {
        let metricCount = rows.first?.count ?? 0
        let span = (times.last?.timeIntervalSince1970 ?? 0) - (times.first?.timeIntervalSince1970 ?? 0)
        // A daily shape needs more than one day to tell the pattern from one day's accidents.
        let slots = span < 1.5 * day ? 1 : slotChoices.first { rows.count / $0 >= samplesPerSlot } ?? 1
        let slotOf = times.map { slot($0, slots) }
        var levels: [[Double]] = []
        var scales: [Double] = []
        let recent = times.last.map { last in times.firstIndex { $0.timeIntervalSince(last) > -day } ?? 0 } ?? 0
        for m in 0..<metricCount {
            var bySlot = [[Double]](repeating: [], count: slots)
            for (i, row) in rows.enumerated() { bySlot[slotOf[i]].append(row[m]) }
            let overall = median(rows.map { $0[m] })
            var shape = bySlot.map { $0.count >= 5 ? median($0) : overall }
            let partial = DailyProfile(slots: slots, levels: [shape], scales: [1])
            // Level from the last day: a shift the asset was retrained on is its new normal.
            let lastDay = (recent..<rows.count).map { rows[$0][m] - partial.expected(0, at: times[$0]) }
            let shift = median(lastDay)
            shape = shape.map { $0 + shift }
            let fitted = DailyProfile(slots: slots, levels: [shape], scales: [1])
            let residuals = rows.indices.map { rows[$0][m] - fitted.expected(0, at: times[$0]) }
            levels.append(shape)
            scales.append(robustScale(residuals, level: abs(overall)))
        }
        return DailyProfile(slots: slots, levels: levels, scales: scales)
    }

    /// The expected value of metric `m` at `time`.
    @inline(__always)
    public func expected(_ m: Int, at time: Date) -> Double {
        let shape = levels[m]
        guard slots > 1 else { return shape[0] }
        let position = Self.dayFraction(time) * Double(slots) - 0.5
        let below = position.rounded(.down)
        let fraction = position - below
        let i = (Int(below) + slots) % slots
        return shape[i] + (shape[(i + 1) % slots] - shape[i]) * fraction
    }

    /// Residual rows in robust units, one per row. Without times (`times.count != rows.count`)
    /// each metric is compared with its median over the day.
    public func residuals(_ rows: [[Double]], times: [Date]) -> [[Double]] {
        guard times.count == rows.count else {
            let flat = levels.map { DailyProfile.median($0) }
            return rows.map { row in row.indices.map { m in (row[m] - flat[m]) / scales[m] } }
        }
        return zip(rows, times).map { row, time in row.indices.map { m in (row[m] - expected(m, at: time)) / scales[m] } }
    }

    static func dayFraction(_ time: Date) -> Double {
        let seconds = time.timeIntervalSince1970.truncatingRemainder(dividingBy: day)
        return (seconds < 0 ? seconds + day : seconds) / day
    }

    static func slot(_ time: Date, _ slots: Int) -> Int { min(slots - 1, Int(dayFraction(time) * Double(slots))) }

    /// 1.4826 MAD; for a metric that mostly sits still (counters), the mean absolute deviation;
    /// never zero, so one move of a constant metric reads as far out rather than dividing by 0.
    static func robustScale(_ residuals: [Double], level: Double) -> Double {
        let centre = median(residuals)
        let deviations = residuals.map { abs($0 - centre) }
        let mad = 1.4826 * median(deviations)
        let meanDeviation = 1.2533 * deviations.reduce(0, +) / Double(max(1, deviations.count))
        return max(mad > 0 ? mad : meanDeviation, 1e-6 * max(1, level))
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        return StatisticalDetectors.quantile(values.sorted(), 0.5)
    }
}
