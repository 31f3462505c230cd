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
    /// Per metric, 0 when the profile is of the metric itself; else the profile (levels, scale) is
    /// of its logarithm, readings below this floor read as it. Chosen at training for positive
    /// metrics whose noise grows with their level (traffic: a busy hour strays further, a drop to a
    /// tenth at night is as far out as at noon), when the log's residuals are the more even.
    /// Nil in models trained before it existed.
    public let logFloors: [Double]?

    static let day = 86_400.0
    /// Slot counts tried, finest first; a slot needs `samplesPerSlot` training samples.
    static let slotChoices = [96, 48, 24, 12, 6, 1]
    static let samplesPerSlot = 30

    public init(slots: Int, levels: [[Double]], scales: [Double], logFloors: [Double]? = nil) {
        self.slots = slots
        self.levels = levels
        self.scales = scales
        self.logFloors = logFloors
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
        var logFloors: [Double] = []
        let recent = times.last.map { last in times.firstIndex { $0.timeIntervalSince(last) > -day } ?? 0 } ?? 0
        for m in 0..<metricCount {
            let column = rows.map { $0[m] }
            var chosen = fitColumn(column, times: times, slots: slots, slotOf: slotOf, recent: recent)
            var floor = 0.0
            // A positive metric (a reading at or below zero in a hundred can be an anomaly: a dead link).
            let typical = median(column)
            if typical > 0, column.filter({ $0 <= 0 }).count * 100 <= column.count {
                let logged = fitColumn(column.map { log(max($0, 1e-3 * typical)) }, times: times, slots: slots, slotOf: slotOf, recent: recent)
                // The log when it evens the spread out clearly (a third less, from a spread that
                // changes through the day by a sixth or more).
                if chosen.unevenness > 0.15, logged.unevenness < 0.67 * chosen.unevenness {
                    chosen = logged
                    floor = 1e-3 * typical
                }
            }
            levels.append(chosen.shape)
            scales.append(chosen.scale)
            logFloors.append(floor)
        }
        return DailyProfile(slots: slots, levels: levels, scales: scales, logFloors: logFloors)
    }

    /// One metric's profile: per-slot medians moved to the last day's level, the robust scale of
    /// the residuals, and how uneven their spread is through the day (the standard deviation of
    /// the log of each slot's MAD: near 0 when the noise is the same at every hour).
    static func fitColumn(_ column: [Double], times: [Date], slots: Int, slotOf: [Int], recent: Int) -> (shape: [Double], scale: Double, unevenness: Double) {
        var bySlot = [[Double]](repeating: [], count: slots)
        for (i, value) in column.enumerated() { bySlot[slotOf[i]].append(value) }
        let overall = median(column)
        var shape = bySlot.map { $0.count >= 5 ? median($0) : overall }
        let partial = DailyProfile(slots: slots, levels: [shape], scales: [1])
        // Level from the last day: a shift the asset was retrained on is its new normal.
        let lastDay = (recent..<column.count).map { column[$0] - partial.expected(0, at: times[$0]) }
        let shift = median(lastDay)
        shape = shape.map { $0 + shift }
        let fitted = DailyProfile(slots: slots, levels: [shape], scales: [1])
        let residuals = column.indices.map { column[$0] - fitted.expected(0, at: times[$0]) }
        let scale = robustScale(residuals, level: abs(overall))
        var residualsBySlot = [[Double]](repeating: [], count: slots)
        for (i, r) in residuals.enumerated() { residualsBySlot[slotOf[i]].append(r) }
        let spreads = residualsBySlot.filter { $0.count >= 10 }.map { slot in median(slot.map { abs($0 - median(slot)) }) }.filter { $0 > 0 }.map { log($0) }
        guard spreads.count >= 2 else { return (shape, scale, 0) }
        let mean = spreads.reduce(0, +) / Double(spreads.count)
        let unevenness = (spreads.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(spreads.count)).squareRoot()
        return (shape, scale, unevenness)
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
            return rows.map { row in row.indices.map { m in (reading(row[m], m) - flat[m]) / scales[m] } }
        }
        return zip(rows, times).map { row, time in row.indices.map { m in (reading(row[m], m) - expected(m, at: time)) / scales[m] } }
    }

    /// A reading as the profile of metric `m` sees it: itself, or the log of it (at least the floor).
    @inline(__always)
    func reading(_ x: Double, _ m: Int) -> Double {
        guard let logFloors, logFloors[m] > 0, !x.isNaN else { return x }
        return log(max(x, logFloors[m]))
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
