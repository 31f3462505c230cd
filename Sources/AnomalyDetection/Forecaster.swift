import Foundation

/// Forecasts of one EMS metric: where it is heading, with intervals, and when it crosses a limit.
///
/// The history is put on a regular grid at its own spacing (the median single-step gap, in whole
/// minutes when within 5 % of them; samples sharing a step are averaged, missing steps stay
/// missing). The model is additive: a level that moves with a robust trend, a daily profile, and
/// on two weeks of history or more a weekly one (the day-of-week shape on top of the daily).
/// Every part is a median, so the spikes and level changes an EMS history holds move it little:
/// - the profiles are per-slot medians around a trend that is a running median of a week of day
///   medians (it keeps a level change where it happened but cannot follow the days of the
///   week), smoothed over a quarter (daily) or half (weekly) hour;
/// - a value far from both the fit and the median of its neighbours is a spike and is replaced;
/// - the trend is the median of week-apart differences of day medians (a level change is one
///   difference in many), shrunk towards zero by its own standard error (an uncertain trend
///   costs more than none);
/// - a level change is a jump between the medians of the day before and the day after a
///   half-day boundary past six robust standard deviations of all such jumps; the level now is
///   the median of the deseasonalised, detrended values since the last one, within the last week.
///
/// Intervals come from the model's own out-of-sample errors: it is refitted at origins one to
/// seven days before the end of the history (those before the last level change left out), each
/// origin's forecast is compared with what followed, and the errors are pooled by lead
/// (half-octave buckets of the step count), so an interval widens with the horizon as the errors
/// did. Leads beyond what the history can test widen from the longest tested one as the square
/// root of the lead.
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
        let errors = backtest(grid, horizon: horizon, since: model.levelChange.map { $0 + max(1, grid.stepsPerDay) / 2 })
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
    /// errors on what followed, by lead. Origins before `since` (half a day after the last level
    /// change) are left out: their forecasts carried the old level across the change, errors the
    /// forecast from the end, which has the new one, will not make.
    static func backtest(_ grid: Grid, horizon: Int, since: Int? = nil) -> LeadErrors {
        var errors = LeadErrors()
        let n = grid.values.count
        let perDay = max(1, grid.stepsPerDay)
        for j in 1...backtestOrigins {
            let origin = n - j * perDay
            guard Double(origin - 1) * grid.step / day >= minimumDays, origin >= since ?? 0 else { break }
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
