import Foundation

extension Forecaster {
    /// The fitted parts, from the first `count` steps of a grid.
    struct Model {
        var daily: [Double]
        var weekly: [Double]?
        var level: Double
        /// The step `level` is measured at (the middle of the last half day).
        var levelIndex: Double
        /// Per step.
        var slope: Double
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
            var model = Model(daily: [0], weekly: nil, level: 0, levelIndex: 0, slope: 0, scale: 0)
            // The first level: week-long medians when a weekly shape is learnt (day-long ones would
            // take the weekend's dip for a level change, and the weekly profile would never see it).
            var trend = blockTrend(y, block: useWeekly ? 7 * block : block, seasonal: { _ in 0 })
            for pass in 0..<3 {
                model.daily = perDay > 0 ? dailyProfile(y, trend: trend, grid: grid, weekly: model.weekly) : [0]
                if useWeekly { model.weekly = weeklyProfile(y, trend: trend, grid: grid, daily: model.daily) }
                let current = model
                trend = blockTrend(y, block: block, seasonal: { current.seasonal($0, grid: grid) })
                if pass == 1 {
                    // Spikes out: residuals past four robust standard deviations become the fit.
                    let residuals = (0..<count).compactMap { i -> Double? in
                        y[i].isFinite ? y[i] - trend[i] - current.seasonal(i, grid: grid) : nil
                    }
                    let scale = 1.4826 * Forecaster.median(residuals.map(abs))
                    if scale > 0 {
                        for i in 0..<count where y[i].isFinite {
                            let fitted = trend[i] + current.seasonal(i, grid: grid)
                            if abs(y[i] - fitted) > 4 * scale { y[i] = fitted }
                        }
                    }
                }
            }
            let final = model
            let deseasonalised = (0..<count).map { y[$0].isFinite ? y[$0] - final.seasonal($0, grid: grid) : .nan }
            // The level now: the median of the last half day (at least six steps).
            let window = max(6, block / 2)
            var recent: [Double] = []
            var indices = 0.0
            var i = count - 1
            while i >= 0, recent.count < window, count - i <= 4 * window {
                if deseasonalised[i].isFinite {
                    recent.append(deseasonalised[i])
                    indices += Double(i)
                }
                i -= 1
            }
            model.level = Forecaster.median(recent)
            model.levelIndex = recent.isEmpty ? Double(count - 1) : indices / Double(recent.count)
            model.slope = robustSlope(deseasonalised, block: block)
            let residuals = (0..<count).compactMap { i -> Double? in
                y[i].isFinite ? y[i] - trend[i] - final.seasonal(i, grid: grid) : nil
            }
            model.scale = 1.4826 * Forecaster.median(residuals.map(abs))
            return model
        }

        /// Medians of day-long blocks of `y - seasonal`, linearly interpolated between the
        /// blocks' centres (flat beyond the first and last).
        static func blockTrend(_ y: [Double], block: Int, seasonal: (Int) -> Double) -> [Double] {
            let medians = blockMedians(y, block: block, seasonal: seasonal)
            var trend = [Double](repeating: medians.first?.value ?? 0, count: y.count)
            guard let first = medians.first, let last = medians.last else { return trend }
            var k = 0
            for i in y.indices {
                let x = Double(i)
                if x <= first.centre {
                    trend[i] = first.value
                } else if x >= last.centre {
                    trend[i] = last.value
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
                    out.append((indexSum / Double(buffer.count), Forecaster.median(buffer)))
                }
                start = end
            }
            return out
        }

        /// The daily profile: per slot of the day, the median of `y - trend - weekly`, centred on zero.
        static func dailyProfile(_ y: [Double], trend: [Double], grid: Grid, weekly: [Double]?) -> [Double] {
            let perDay = grid.stepsPerDay
            var bySlot = [[Double]](repeating: [], count: perDay)
            for i in y.indices where y[i].isFinite {
                bySlot[grid.daySlot(i)].append(y[i] - trend[i] - (weekly?[grid.weekSlot(i)] ?? 0))
            }
            var profile = bySlot.map { $0.isEmpty ? Double.nan : Forecaster.median($0) }
            fillGaps(&profile)
            let mean = profile.reduce(0, +) / Double(max(1, profile.count))
            return profile.map { $0 - mean }
        }

        /// The weekly shape on top of the daily: per slot of the week, the median of
        /// `y - trend - daily` over that day of the week at the slot and its two neighbours each
        /// side (a handful of weeks hold few values a slot), centred on zero.
        static func weeklyProfile(_ y: [Double], trend: [Double], grid: Grid, daily: [Double]) -> [Double] {
            let perDay = grid.stepsPerDay
            let slots = 7 * perDay
            var bySlot = [[Double]](repeating: [], count: slots)
            for i in y.indices where y[i].isFinite {
                bySlot[grid.weekSlot(i)].append(y[i] - trend[i] - daily[grid.daySlot(i)])
            }
            var profile = [Double](repeating: .nan, count: slots)
            let reach = max(1, perDay / 96)
            var pooled: [Double] = []
            for slot in 0..<slots {
                pooled.removeAll(keepingCapacity: true)
                let day = slot / perDay
                for offset in -reach...reach {
                    let s = slot % perDay + offset
                    guard s >= 0, s < perDay else { continue }
                    pooled.append(contentsOf: bySlot[day * perDay + s])
                }
                if !pooled.isEmpty { profile[slot] = Forecaster.median(pooled) }
            }
            fillGaps(&profile)
            let mean = profile.reduce(0, +) / Double(max(1, profile.count))
            return profile.map { $0 - mean }
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

        /// The trend per step: the median of differences of day-block medians a week apart (less
        /// on a shorter history), shrunk by its standard error `se` as `t² / (t² + 4)` with
        /// `t = |slope| / se`.
        static func robustSlope(_ deseasonalised: [Double], block: Int) -> Double {
            let medians = blockMedians(deseasonalised, block: block, seasonal: { _ in 0 })
            guard medians.count >= 3 else { return 0 }
            let lag = max(1, min(7, (medians.count - 1) / 2))
            var slopes: [Double] = []
            for k in 0..<(medians.count - lag) {
                let a = medians[k], b = medians[k + lag]
                if b.centre > a.centre { slopes.append((b.value - a.value) / (b.centre - a.centre)) }
            }
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
}
