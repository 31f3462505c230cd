import Foundation

extension Forecaster {
    /// The fitted parts, from the first `count` steps of a grid.
    struct Model {
        var daily: [Double]
        var weekly: [Double]?
        var level: Double
        /// The step `level` is measured at (the last of the history).
        var levelIndex: Double
        /// Per step.
        var slope: Double
        /// The step from which the level is the current one, when it moved within the history.
        var levelChange: Int?
        /// 1.4826 × the MAD of the residuals.
        var scale: Double

        var components: [String] {
            var parts = ["level"]
            if slope != 0 { parts.append("trend") }
            if daily.count > 1 { parts.append("daily") }
            if weekly != nil { parts.append("weekly") }
            return parts
        }

        func seasonal(_ index: Int, grid: Grid) -> Double {
            var value = daily.count > 1 ? daily[grid.daySlot(index)] : 0
            if let weekly { value += weekly[grid.weekSlot(index)] }
            return value
        }

        func value(at index: Int, grid: Grid) -> Double {
            level + slope * (Double(index) - levelIndex) + seasonal(index, grid: grid)
        }

        static func fit(_ grid: Grid, count: Int) -> Model {
            let perDay = grid.stepsPerDay
            let block = max(perDay, 1)
            let useWeekly = perDay > 0 && Double(count) * grid.step >= 14 * Forecaster.day
            var y = Array(grid.values[0..<count])
            var model = Model(daily: [0], weekly: nil, level: 0, levelIndex: 0, slope: 0, levelChange: nil, scale: 0)
            // The first trend: with a weekly shape to learn, a running median of a week of day
            // medians (a day-by-day one would take the weekend's dip for a level change).
            var trend = blockTrend(y, block: block, seasonal: { _ in 0 }, span: useWeekly ? 3 : 0)
            let days = SlotBuckets(grid.daySlots, count: count, slots: perDay)
            let weeks = useWeekly ? SlotBuckets(grid.weekSlots, count: count, slots: 7 * perDay) : nil
            for pass in 0..<2 {
                model.daily = perDay > 0 ? dailyProfile(y, trend: trend, grid: grid, weekly: model.weekly, buckets: days) : [0]
                if let weeks { model.weekly = weeklyProfile(y, trend: trend, grid: grid, daily: model.daily, buckets: weeks) }
                let current = model
                trend = blockTrend(y, block: block, seasonal: { current.seasonal($0, grid: grid) }, span: useWeekly ? 3 : 0)
                if pass == 0 { removeSpikes(&y, trend: trend, seasonal: { current.seasonal($0, grid: grid) }) }
            }
            let final = model
            let deseasonalised = (0..<count).map { y[$0].isFinite ? y[$0] - final.seasonal($0, grid: grid) : .nan }
            model.slope = robustSlope(deseasonalised, block: block)
            model.levelChange = perDay > 0 ? lastLevelChange(deseasonalised, slope: model.slope, half: max(1, perDay / 2)) : nil
            // The level now: the median of the deseasonalised values, trend taken out, since the
            // last level change and within the last week (a week holds every slot of the weekly
            // profile, so an error of the profile at the end of the history does not move it).
            let end = count - 1
            let earliest = max(model.levelChange ?? 0, count - 7 * block, 0)
            var recent: [Double] = []
            for i in earliest..<count where deseasonalised[i].isFinite {
                recent.append(deseasonalised[i] - model.slope * Double(i - end))
            }
            if recent.count < 6 {
                recent = []
                var i = end
                while i >= 0, recent.count < 6 {
                    if deseasonalised[i].isFinite { recent.append(deseasonalised[i] - model.slope * Double(i - end)) }
                    i -= 1
                }
            }
            model.level = Forecaster.median(recent)
            model.levelIndex = Double(end)
            let residuals = (0..<count).compactMap { i -> Double? in
                y[i].isFinite ? y[i] - trend[i] - final.seasonal(i, grid: grid) : nil
            }
            model.scale = 1.4826 * Forecaster.median(residuals.map(abs))
            return model
        }

        /// Spikes out: a value more than four robust standard deviations (of the residuals) from
        /// the fit, and as far from the median of its neighbours within six steps (seasonal shape
        /// taken out), becomes that median plus the shape. The second test keeps a level change:
        /// after one, every value is far from a trend that has not caught up yet, but close to
        /// its neighbours.
        static func removeSpikes(_ y: inout [Double], trend: [Double], seasonal: (Int) -> Double) {
            let count = y.count
            var residuals: [Double] = []
            residuals.reserveCapacity(count)
            for i in 0..<count where y[i].isFinite { residuals.append(abs(y[i] - trend[i] - seasonal(i))) }
            let scale = 1.4826 * residuals.withUnsafeMutableBufferPointer { Forecaster.medianReordering($0) }
            guard scale > 0 else { return }
            let original = y
            var neighbours: [Double] = []
            neighbours.reserveCapacity(12)
            for i in 0..<count where original[i].isFinite {
                let shape = seasonal(i)
                guard abs(original[i] - trend[i] - shape) > 4 * scale else { continue }
                neighbours.removeAll(keepingCapacity: true)
                for j in max(0, i - 6)...min(count - 1, i + 6) where j != i && original[j].isFinite {
                    neighbours.append(original[j] - seasonal(j))
                }
                guard !neighbours.isEmpty else { continue }
                let local = neighbours.withUnsafeMutableBufferPointer { Forecaster.medianReordering($0) }
                if abs(original[i] - shape - local) > 4 * scale { y[i] = local + shape }
            }
        }

        /// Where the level last moved: the medians of `z` (trend taken out) by half day; at each
        /// half-day boundary the mean of the two after less the mean of the two before (the last
        /// half day against the day before it, for a change within the last day). A jump past six
        /// robust standard deviations of all of them is a level change; the boundary of the last
        /// one is returned.
        static func lastLevelChange(_ z: [Double], slope: Double, half h: Int) -> Int? {
            let n = z.count
            var buffer: [Double] = []
            buffer.reserveCapacity(2 * h)
            func median(_ range: Range<Int>) -> Double {
                buffer.removeAll(keepingCapacity: true)
                for i in range where z[i].isFinite { buffer.append(z[i] - slope * Double(i)) }
                guard buffer.count * 4 >= range.count, !buffer.isEmpty else { return .nan }
                return buffer.withUnsafeMutableBufferPointer { Forecaster.medianReordering($0) }
            }
            let halves = (0..<(n / h)).map { median($0 * h..<($0 + 1) * h) }
            var jumps: [(boundary: Int, jump: Double)] = []
            for k in 2..<max(2, halves.count - 1) {
                let jump = (halves[k] + halves[k + 1] - halves[k - 1] - halves[k - 2]) / 2
                if jump.isFinite { jumps.append((k * h, jump)) }
            }
            guard jumps.count >= 8 else { return nil }
            let typical = Forecaster.median(jumps.map(\.jump))
            let sigma = 1.4826 * Forecaster.median(jumps.map { abs($0.jump - typical) })
            guard sigma > 0 else { return nil }
            // The last half day against the day before it: half the values after, √2 the spread.
            let lastHalf = median(n - h..<n), dayBefore = n >= 3 * h ? (median(n - 3 * h..<n - 2 * h) + median(n - 2 * h..<n - h)) / 2 : .nan
            if (lastHalf - dayBefore).isFinite, abs(lastHalf - dayBefore - typical) > 6 * 2.0.squareRoot() * sigma {
                return n - h + h / 2
            }
            let flagged = { (k: Int) in abs(jumps[k].jump - typical) > 6 * sigma }
            guard var peak = jumps.indices.last(where: flagged) else { return nil }
            // A change shows at the boundaries either side of it too, less: the largest jump of the
            // last run of flagged boundaries is where it happened.
            var k = peak
            while k > 0, flagged(k - 1), jumps[k - 1].boundary == jumps[k].boundary - h, (jumps[k - 1].jump > typical) == (jumps[k].jump > typical) {
                k -= 1
                if abs(jumps[k].jump - typical) > abs(jumps[peak].jump - typical) { peak = k }
            }
            return jumps[peak].boundary
        }

        /// Medians of day-long blocks of `y - seasonal`, linearly interpolated between the
        /// blocks' centres and continued beyond the first and last at the median of the slopes
        /// between neighbouring blocks (flat ends would leave the growth of the first and last
        /// half block in the residuals, which the weekly profile would take for a weekday shape).
        ///
        /// With `span`, each block's value is instead the median of the blocks within `span` of
        /// it, trend taken out (the median of week-apart slopes) and put back: a day-by-day trend
        /// could carry the days of the week, and the weekly profile would then never learn them
        /// (the two trade off freely); a running median of a week of days cannot follow a weekly
        /// shape, yet keeps a level change where it happened.
        static func blockTrend(_ y: [Double], block: Int, seasonal: (Int) -> Double, span: Int = 0) -> [Double] {
            var medians = blockMedians(y, block: block, seasonal: seasonal)
            var trend = [Double](repeating: medians.first?.value ?? 0, count: y.count)
            guard !medians.isEmpty else { return trend }
            var edge = Forecaster.median(lagSlopes(medians, lag: 1))
            if span > 0, medians.count > 2 * span {
                edge = Forecaster.median(lagSlopes(medians, lag: min(2 * span + 1, medians.count / 2)))
                let flat = medians.map { $0.value - edge * $0.centre }
                var window: [Double] = []
                for k in medians.indices {
                    window.removeAll(keepingCapacity: true)
                    window.append(contentsOf: flat[max(0, k - span)...min(flat.count - 1, k + span)])
                    medians[k].value = edge * medians[k].centre + window.withUnsafeMutableBufferPointer { Forecaster.medianReordering($0) }
                }
            }
            let first = medians[0], last = medians[medians.count - 1]
            var k = 0
            for i in y.indices {
                let x = Double(i)
                if x <= first.centre {
                    trend[i] = first.value + edge * (x - first.centre)
                } else if x >= last.centre {
                    trend[i] = last.value + edge * (x - last.centre)
                } else {
                    while k + 1 < medians.count, medians[k + 1].centre < x { k += 1 }
                    let a = medians[k], b = medians[min(k + 1, medians.count - 1)]
                    let t = b.centre > a.centre ? (x - a.centre) / (b.centre - a.centre) : 0
                    trend[i] = a.value + t * (b.value - a.value)
                }
            }
            return trend
        }

        /// Per block of `block` steps holding a quarter of its values or more: its centre and median.
        static func blockMedians(_ y: [Double], block: Int, seasonal: (Int) -> Double) -> [(centre: Double, value: Double)] {
            var out: [(centre: Double, value: Double)] = []
            var start = 0
            var buffer: [Double] = []
            buffer.reserveCapacity(block)
            while start < y.count {
                let end = min(y.count, start + block)
                buffer.removeAll(keepingCapacity: true)
                var indexSum = 0.0
                for i in start..<end where y[i].isFinite {
                    buffer.append(y[i] - seasonal(i))
                    indexSum += Double(i)
                }
                if buffer.count * 4 >= block, !buffer.isEmpty {
                    let centre = indexSum / Double(buffer.count)
                    out.append((centre, buffer.withUnsafeMutableBufferPointer { Forecaster.medianReordering($0) }))
                }
                start = end
            }
            return out
        }

        /// The daily profile: per slot of the day, the median of `y - trend - weekly`, then a
        /// running mean over a quarter of an hour each side, centred on zero.
        static func dailyProfile(_ y: [Double], trend: [Double], grid: Grid, weekly: [Double]?, buckets: SlotBuckets) -> [Double] {
            slotProfile(y, buckets: buckets, slots: grid.stepsPerDay, reach: grid.stepsPerDay / 96) { i in
                trend[i] + (weekly?[grid.weekSlot(i)] ?? 0)
            }
        }

        /// The weekly shape on top of the daily: per slot of the week, the median over the weeks
        /// of `y - trend - daily`, then a running mean over half an hour around the week (a handful
        /// of weeks hold few values a slot: alone they are noisy, and the profile's highest point
        /// would be its noise's), centred on zero.
        static func weeklyProfile(_ y: [Double], trend: [Double], grid: Grid, daily: [Double], buckets: SlotBuckets) -> [Double] {
            slotProfile(y, buckets: buckets, slots: 7 * grid.stepsPerDay, reach: grid.stepsPerDay / 48) { i in
                trend[i] + daily[grid.daySlot(i)]
            }
        }

        /// What both profiles do: per slot, the median of `y - rest` over the slot's steps; missing
        /// slots filled, a running mean over `reach` slots each side, centred on zero.
        @inline(__always)
        static func slotProfile(_ y: [Double], buckets: SlotBuckets, slots: Int, reach: Int, rest: (Int) -> Double) -> [Double] {
            var profile = [Double](repeating: .nan, count: slots)
            var scratch = [Double](repeating: 0, count: buckets.widest)
            scratch.withUnsafeMutableBufferPointer { scratch in
                for slot in profile.indices {
                    var n = 0
                    for i in buckets.members(slot) where y[i].isFinite {
                        scratch[n] = y[i] - rest(i)
                        n += 1
                    }
                    if n > 0 { profile[slot] = Forecaster.medianReordering(UnsafeMutableBufferPointer(rebasing: scratch[0..<n])) }
                }
            }
            fillGaps(&profile)
            smooth(&profile, reach: reach)
            let mean = profile.reduce(0, +) / Double(max(1, profile.count))
            return profile.map { $0 - mean }
        }

        /// A centred running mean over `reach` slots each side, around the profile's circle (the
        /// day's or the week's: its last slot is followed by its first).
        static func smooth(_ profile: inout [Double], reach: Int) {
            let n = profile.count
            guard reach > 0, n > 2 * reach else { return }
            let source = profile
            var sum = 0.0
            for k in -reach...reach { sum += source[(k + n) % n] }
            for i in 0..<n {
                profile[i] = sum / Double(2 * reach + 1)
                sum += source[(i + reach + 1) % n] - source[(i - reach + n) % n]
            }
        }

        /// Missing slots take the nearest known one's value (0 when none is known).
        static func fillGaps(_ profile: inout [Double]) {
            guard let known = profile.firstIndex(where: { $0.isFinite }) else {
                profile = profile.map { _ in 0 }
                return
            }
            var last = profile[known]
            for i in profile.indices {
                if profile[i].isFinite { last = profile[i] } else { profile[i] = last }
            }
        }

        /// The slopes between blocks `lag` apart.
        static func lagSlopes(_ medians: [(centre: Double, value: Double)], lag: Int) -> [Double] {
            guard lag >= 1, medians.count > lag else { return [] }
            var slopes: [Double] = []
            slopes.reserveCapacity(medians.count - lag)
            for k in 0..<(medians.count - lag) {
                let a = medians[k], b = medians[k + lag]
                if b.centre > a.centre { slopes.append((b.value - a.value) / (b.centre - a.centre)) }
            }
            return slopes
        }

        /// The trend per step: the median of differences of day-block medians a week apart (less
        /// on a shorter history), shrunk by its standard error `se` as `t² / (t² + 4)` with
        /// `t = |slope| / se`.
        static func robustSlope(_ deseasonalised: [Double], block: Int) -> Double {
            let medians = blockMedians(deseasonalised, block: block, seasonal: { _ in 0 })
            guard medians.count >= 3 else { return 0 }
            let lag = max(1, min(7, (medians.count - 1) / 2))
            let slopes = lagSlopes(medians, lag: lag)
            guard slopes.count >= 2 else { return 0 }
            let slope = Forecaster.median(slopes)
            let spread = 1.4826 * Forecaster.median(slopes.map { abs($0 - slope) })
            // Week-apart differences overlap: about count / lag of them are independent.
            let independent = max(1, Double(slopes.count) / Double(lag))
            let se = spread / independent.squareRoot()
            guard se > 0 else { return slope }
            let t2 = (slope / se) * (slope / se)
            return slope * t2 / (t2 + 4)
        }
    }

    /// The steps `0..<count` grouped by their slot (a counting sort), built once a fit so that
    /// each pass's profiles read their slots' steps without building arrays of arrays.
    struct SlotBuckets {
        private var starts: [Int]
        private var steps: [Int]
        /// The most steps one slot holds.
        let widest: Int

        init(_ slotOf: [Int], count: Int, slots: Int) {
            var starts = [Int](repeating: 0, count: slots + 1)
            for i in 0..<count { starts[slotOf[i] + 1] += 1 }
            var widest = 0
            for s in 0..<slots {
                widest = max(widest, starts[s + 1])
                starts[s + 1] += starts[s]
            }
            var next = starts
            var steps = [Int](repeating: 0, count: count)
            for i in 0..<count {
                steps[next[slotOf[i]]] = i
                next[slotOf[i]] += 1
            }
            self.starts = starts
            self.steps = steps
            self.widest = widest
        }

        func members(_ slot: Int) -> ArraySlice<Int> { steps[starts[slot]..<starts[slot + 1]] }
    }
}
