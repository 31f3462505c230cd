import Foundation

/// Forecasts of one EMS metric: where it is heading, with intervals, and when it crosses a limit.
///
/// The history is put on a regular grid at its own spacing (the median single-step gap, in whole
/// minutes when within 5 % of them; samples sharing a step are averaged, missing steps stay
/// missing). The model is additive: a level that moves
/// with a robust trend, a daily profile, and on two weeks of history or more a weekly one (the
/// day-of-week shape on top of the daily). Every part is a median, so the spikes and level
/// changes an EMS history holds move it little:
/// - the level is tracked by day-long block medians of the deseasonalised series, and its value
///   at the end is the median of the last half day (a level change is taken up within hours);
/// - the trend is the median of week-apart differences of those block medians (a level change is
///   one difference in many), shrunk towards zero by its own standard error (an uncertain trend
///   costs more than none);
/// - residuals beyond four robust standard deviations are replaced by the fit and the model is
///   fitted again on the cleaned series.
///
/// Intervals come from the model's own out-of-sample errors: it is refitted at origins one to
/// seven days before the end of the history, each origin's forecast is compared with what
/// followed, and the errors are pooled by lead (half-octave buckets of the step count), so an
/// interval widens with the horizon as the errors did. Leads beyond what the history can test
/// widen from the longest tested one as the square root of the lead.
public enum Forecaster {
    public struct Point: Sendable, Equatable {
        public let timestamp: Date
        public let value: Double
        public let lower: Double
        public let upper: Double
    }

    public struct Crossing: Sendable, Equatable {
        public let threshold: Double
        /// The first step whose forecast passes the threshold; nil when none within the horizon.
        public let timestamp: Date?
        /// The largest chance, at any one step of the horizon, that the metric is past the
        /// threshold, from the out-of-sample errors at that step's lead (a lower bound of the
        /// chance that it passes at all; close to it, since a path's errors move together).
        public let probability: Double
        /// `above` when the threshold is above the current level, else `below`.
        public let direction: String
    }

    public struct Forecast: Sendable {
        public let stepSeconds: Double
        /// The parts of the model used: `level`, `trend`, `daily`, `weekly`.
        public let components: [String]
        public let fittedSamples: Int
        public let points: [Point]
        /// The trend, in the metric's units a week.
        public let growthPerWeek: Double
        public let crossing: Crossing?
        /// Out-of-sample errors the intervals were drawn from.
        public let backtestErrors: Int
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Fewer than `minimumDays` of history.
        case tooLittleHistory(samples: Int, days: Double)
        /// The timestamps give no spacing (one distinct time), or one so irregular that the grid
        /// would exceed `maximumGridSteps`.
        case spacing(String)

        public var description: String {
            switch self {
            case .tooLittleHistory(let samples, let days):
                let shown = (days * 100).rounded() / 100
                return "a forecast needs at least \(Int(Forecaster.minimumDays)) days of history; there are \(samples) samples over \(shown) days"
            case .spacing(let message): return message
            }
        }
    }

    public static let method = "robust seasonal-trend"
    public static let minimumDays = 2.0
    public static let maximumGridSteps = 1_000_000
    public static let maximumHorizon = 4032
    static let day = 86_400.0
    /// Refits before the end whose errors make the intervals.
    static let backtestOrigins = 7
    /// Errors a lead bucket needs to give its own quantiles.
    static let bucketMinimum = 50

    /// Forecasts `horizon` steps after the last sample.
    /// - Parameters:
    ///   - interval: the central probability of `lower`...`upper` (0.5 to 0.99).
    ///   - threshold: when given, the `crossing` is computed.
    /// - Throws: `Failure`.
    public static func forecast(times: [Date], values: [Double], horizon: Int, interval: Double = 0.9, threshold: Double? = nil) throws -> Forecast {
        let horizon = max(1, min(horizon, maximumHorizon))
        let grid = try Grid(times: times, values: values, ahead: horizon)
        let days = Double(grid.values.count - 1) * grid.step / day
        guard days >= minimumDays else { throw Failure.tooLittleHistory(samples: grid.samples, days: days) }
        let model = Model.fit(grid, count: grid.values.count)
        let errors = backtest(grid, horizon: horizon)
        let alpha = (1 - min(max(interval, 0.5), 0.99)) / 2
        var points: [Point] = []
        points.reserveCapacity(horizon)
        let last = grid.values.count - 1
        var crossingStep: Int?
        var probability = 0.0
        let direction = threshold.map { $0 >= model.value(at: last, grid: grid) ? "above" : "below" } ?? "above"
        for h in 1...horizon {
            let index = last + h
            let value = model.value(at: index, grid: grid)
            let (low, high) = errors.quantiles(lead: h, alpha: alpha, fallbackScale: model.scale, stepsPerDay: grid.stepsPerDay)
            points.append(Point(timestamp: grid.time(index), value: value, lower: value + low, upper: value + high))
            if let threshold {
                let passed = direction == "above" ? value >= threshold : value <= threshold
                if passed, crossingStep == nil { crossingStep = h }
                let chance = errors.chance(lead: h, past: threshold - value, above: direction == "above", fallbackScale: model.scale, stepsPerDay: grid.stepsPerDay)
                probability = max(probability, chance)
            }
        }
        let crossing = threshold.map { threshold in
            Crossing(threshold: threshold, timestamp: crossingStep.map { grid.time(last + $0) }, probability: probability, direction: direction)
        }
        return Forecast(
            stepSeconds: grid.step, components: model.components, fittedSamples: grid.samples, points: points,
            growthPerWeek: model.slope * 7 * day / grid.step, crossing: crossing, backtestErrors: errors.count)
    }

    /// Refits at origins one to `backtestOrigins` days before the end and pools each origin's
    /// errors on what followed, by lead.
    static func backtest(_ grid: Grid, horizon: Int) -> LeadErrors {
        var errors = LeadErrors()
        let n = grid.values.count
        let perDay = max(1, grid.stepsPerDay)
        for j in 1...backtestOrigins {
            let origin = n - j * perDay
            guard Double(origin - 1) * grid.step / day >= minimumDays else { break }
            let model = Model.fit(grid, count: origin)
            let reach = min(horizon, n - origin)
            for h in 1...max(1, reach) where origin + h - 1 < n {
                let actual = grid.values[origin + h - 1]
                guard actual.isFinite else { continue }
                errors.add(lead: h, error: actual - model.value(at: origin - 1 + h, grid: grid))
            }
        }
        errors.sort()
        return errors
    }
}

extension Forecaster {
    /// Samples on a regular grid at their own spacing; missing steps are NaN.
    struct Grid {
        /// Seconds since 1970 of step 0.
        let start: Double
        let step: Double
        var values: [Double]
        /// Samples that went into the grid.
        let samples: Int
        /// Per step, history and `ahead` steps after it: the slot of the day and of the week.
        let daySlots: [Int]
        let weekSlots: [Int]

        init(times: [Date], values: [Double], ahead: Int) throws {
            let pairs = zip(times, values).filter { $0.1.isFinite }.map { ($0.0.timeIntervalSince1970, $0.1) }.sorted { $0.0 < $1.0 }
            var gaps: [Double] = []
            gaps.reserveCapacity(pairs.count)
            for k in pairs.indices.dropFirst() where pairs[k].0 > pairs[k - 1].0 { gaps.append(pairs[k].0 - pairs[k - 1].0) }
            guard let first = pairs.first, !gaps.isEmpty else {
                throw Failure.tooLittleHistory(samples: pairs.count, days: 0)
            }
            // The spacing: the median gap, then the median of the single-step gaps near it (missing
            // samples make double gaps that would pull it up), snapped to whole minutes when
            // within 5 % of them (timestamps taken a few seconds late should not stretch the grid).
            let rough = Forecaster.median(gaps)
            var step = max(1, Forecaster.median(gaps.filter { $0 >= 0.5 * rough && $0 <= 1.5 * rough }).rounded())
            let minutes = (step / 60).rounded() * 60
            if step >= 60, abs(minutes - step) <= 0.05 * step { step = minutes }
            let count = Int(((pairs[pairs.count - 1].0 - first.0) / step).rounded()) + 1
            guard count <= Forecaster.maximumGridSteps else {
                throw Failure.spacing("the samples' timestamps are too irregular: at their typical spacing of \(Int(step)) s they span \(count) steps")
            }
            var sums = [Double](repeating: 0, count: count)
            var counts = [Int](repeating: 0, count: count)
            for (time, value) in pairs {
                let index = min(count - 1, max(0, Int(((time - first.0) / step).rounded())))
                sums[index] += value
                counts[index] += 1
            }
            self.start = first.0
            self.step = step
            self.values = zip(sums, counts).map { $1 > 0 ? $0 / Double($1) : .nan }
            self.samples = pairs.count
            let perDay = Self.stepsPerDay(step)
            var daySlots = [Int](repeating: 0, count: count + ahead)
            var weekSlots = [Int](repeating: 0, count: count + ahead)
            for index in daySlots.indices {
                let seconds = first.0 + Double(index) * step
                let days = (seconds / Forecaster.day).rounded(.down)
                let slot = perDay > 0 ? min(perDay - 1, Int((seconds - days * Forecaster.day) / Forecaster.day * Double(perDay))) : 0
                let weekday = (Int(days) % 7 + 7 + 3) % 7  // 1970-01-01 was a Thursday: Monday is 0
                daySlots[index] = slot
                weekSlots[index] = weekday * max(1, perDay) + slot
            }
            self.daySlots = daySlots
            self.weekSlots = weekSlots
        }

        static func stepsPerDay(_ step: Double) -> Int {
            let perDay = Int((Forecaster.day / step).rounded())
            return perDay >= 2 ? perDay : 0
        }

        /// Steps in a day (0 when a step is half a day or longer: no daily shape to learn).
        var stepsPerDay: Int { Self.stepsPerDay(step) }

        func time(_ index: Int) -> Date { Date(timeIntervalSince1970: start + Double(index) * step) }

        /// The slot of the day (UTC) of step `index`.
        func daySlot(_ index: Int) -> Int { daySlots[index] }

        /// The slot of the week (Monday 00:00 UTC = 0) of step `index`.
        func weekSlot(_ index: Int) -> Int { weekSlots[index] }
    }

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

    /// Out-of-sample errors by lead, pooled in half-octave buckets of the lead.
    struct LeadErrors {
        var buckets: [[Double]] = []
        var count = 0

        static func bucket(_ lead: Int) -> Int { Int((2 * log2(Double(max(1, lead)))).rounded(.down)) }

        mutating func add(lead: Int, error: Double) {
            let b = Self.bucket(lead)
            while buckets.count <= b { buckets.append([]) }
            buckets[b].append(error)
            count += 1
        }

        mutating func sort() {
            for b in buckets.indices { buckets[b].sort() }
        }

        /// The bucket to read for `lead` and how much to widen it: the lead's own when it holds
        /// enough errors, else the longest-lead bucket that does, widened as √(lead ratio).
        func source(_ lead: Int) -> (errors: [Double], widen: Double)? {
            let b = Self.bucket(lead)
            if b < buckets.count, buckets[b].count >= Forecaster.bucketMinimum { return (buckets[b], 1) }
            guard let known = buckets.indices.last(where: { $0 <= b && buckets[$0].count >= Forecaster.bucketMinimum }) else { return nil }
            // The known bucket's middle lead.
            let knownLead = pow(2, (Double(known) + 0.5) / 2)
            return (buckets[known], max(1, (Double(lead) / knownLead).squareRoot()))
        }

        /// Offsets from the forecast for the central `1 - 2 alpha`.
        func quantiles(lead: Int, alpha: Double, fallbackScale: Double, stepsPerDay: Int) -> (Double, Double) {
            if let (errors, widen) = source(lead) {
                return (widen * Forecaster.quantile(errors, alpha), widen * Forecaster.quantile(errors, 1 - alpha))
            }
            // No tested lead yet (under three days of history): the residual scale, widening by the day.
            let z = Forecaster.normalQuantile(1 - alpha)
            let spread = fallbackScale * z * (1 + Double(lead) / Double(max(1, stepsPerDay))).squareRoot()
            return (-spread, spread)
        }

        /// The chance that the forecast's error at `lead` is past `distance` (above: error ≥ distance).
        func chance(lead: Int, past distance: Double, above: Bool, fallbackScale: Double, stepsPerDay: Int) -> Double {
            if let (errors, widen) = source(lead) {
                let scaled = distance / widen
                // Errors are sorted: count those past the distance.
                var low = 0, high = errors.count
                while low < high {
                    let mid = (low + high) / 2
                    if errors[mid] < scaled { low = mid + 1 } else { high = mid }
                }
                let below = low
                return above ? Double(errors.count - below) / Double(errors.count) : Double(below) / Double(errors.count)
            }
            let spread = max(1e-12, fallbackScale * (1 + Double(lead) / Double(max(1, stepsPerDay))).squareRoot())
            let z = distance / spread
            return above ? 0.5 * erfc(z / 2.0.squareRoot()) : 0.5 * erfc(-z / 2.0.squareRoot())
        }
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        var sorted = values
        sorted.sort()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Linear interpolation between order statistics of sorted `values` (numpy's default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(sorted.count - 1, lower + 1)
        return sorted[lower] + (position - Double(lower)) * (sorted[upper] - sorted[lower])
    }

    /// The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).
    static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let p = min(max(p, 1e-12), 1 - 1e-12)
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - 0.02425 { return -normalQuantile(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}
