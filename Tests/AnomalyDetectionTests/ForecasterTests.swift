import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

/// The forecaster on series of known structure: each part recovered within stated bounds.
@Suite("Forecaster")
struct ForecasterTests {
    static let step = 300.0
    static let perDay = 288
    /// 2026-01-05T00:00Z, a Monday.
    static let start = 1_767_571_200.0

    /// `days` of five-minute samples of `truth(i)` plus Gaussian noise of `noise`.
    static func series(days: Int, noise: Double, seed: UInt64 = 1, truth: (Int) -> Double) -> (times: [Date], values: [Double]) {
        var random = SplitMix64(seed: seed)
        let n = days * perDay
        var times: [Date] = [], values: [Double] = []
        for i in 0..<n {
            times.append(Date(timeIntervalSince1970: start + Double(i) * step))
            values.append(truth(i) + noise * gaussian(&random))
        }
        return (times, values)
    }

    static func gaussian(_ random: inout SplitMix64) -> Double {
        (-2 * log(Double.random(in: Double.ulpOfOne..<1, using: &random))).squareRoot() * cos(2 * .pi * Double.random(in: 0..<1, using: &random))
    }

    static func daily(_ i: Int) -> Double { 20 * sin(2 * .pi * Double(i % perDay) / Double(perDay)) }

    /// Mean absolute error of the forecast against `truth` over its steps after `count` history steps.
    static func error(_ forecast: Forecaster.Forecast, history count: Int, truth: (Int) -> Double) -> Double {
        let errors = forecast.points.enumerated().map { abs($1.value - truth(count + $0)) }
        return errors.reduce(0, +) / Double(errors.count)
    }

    @Test func testAPureDailyCycleIsRecovered() throws {
        let truth = { (i: Int) in 100 + Self.daily(i) }
        let (times, values) = Self.series(days: 21, noise: 1, truth: truth)
        let forecast = try Forecaster.forecast(times: times, values: values, horizon: Self.perDay)
        let mae = Self.error(forecast, history: times.count, truth: truth)
        print("pure daily cycle (amplitude 20, noise 1): forecast MAE over a day \(mae), components \(forecast.components)")
        #expect(mae < 1, "within the noise of a 20-unit cycle")
        #expect(forecast.components.contains("daily") && forecast.components.contains("weekly"))
        #expect(forecast.stepSeconds == 300 && forecast.fittedSamples == 21 * Self.perDay)
        #expect(abs(forecast.growthPerWeek) < 1, "no trend invented: \(forecast.growthPerWeek)")
        #expect(forecast.points.first?.timestamp == times.last!.addingTimeInterval(300))
    }

    @Test func testLinearGrowthIsRecovered() throws {
        let perWeek = 14.0
        let truth = { (i: Int) in 50 + perWeek * Double(i) / Double(7 * Self.perDay) + Self.daily(i) }
        let (times, values) = Self.series(days: 28, noise: 2, seed: 2, truth: truth)
        let forecast = try Forecaster.forecast(times: times, values: values, horizon: 7 * Self.perDay)
        let mae = Self.error(forecast, history: times.count, truth: truth)
        print("growth 14/week: estimated \(forecast.growthPerWeek)/week, week-ahead MAE \(mae)")
        #expect(abs(forecast.growthPerWeek - perWeek) < 0.1 * perWeek)
        #expect(mae < 2)
        #expect(forecast.components.contains("trend"))
    }

    @Test func testALevelChangeIsTakenUpAndNotMistakenForGrowth() throws {
        let shiftAt = 15 * Self.perDay
        let truth = { (i: Int) in 100 + (i >= shiftAt ? 40 : 0) + Self.daily(i) }
        let (times, values) = Self.series(days: 21, noise: 2, seed: 3, truth: truth)
        let forecast = try Forecaster.forecast(times: times, values: values, horizon: Self.perDay)
        let mae = Self.error(forecast, history: times.count, truth: truth)
        print("level change +40 six days before the end: forecast MAE \(mae), growth \(forecast.growthPerWeek)/week")
        #expect(mae < 3, "the new level, not the old or a mix")
        #expect(abs(forecast.growthPerWeek) < 8, "one step is not a trend of 40 a week")
    }

    /// Weekends lower and flatter, and a level raised for four days that ended four days before
    /// the end: the weekly shape must be learnt as the days of the week (not left in a day-by-day
    /// trend), and the intervals must not carry the backtests made across the raised days.
    @Test func testAWeekendAndARecentLevelChangeKeepForecastsAndIntervalsRight() throws {
        let raised = (20 * Self.perDay)..<(24 * Self.perDay)
        let truth = { (i: Int) -> Double in
            let weekend = (i / Self.perDay) % 7 >= 5  // day 0 is a Monday
            return (weekend ? 80 + Self.daily(i) / 2 : 100 + Self.daily(i)) + (raised.contains(i) ? 40 : 0)
        }
        let (times, values) = Self.series(days: 35, noise: 2, seed: 8, truth: truth)
        let history = 28 * Self.perDay
        let forecast = try Forecaster.forecast(
            times: Array(times[..<history]), values: Array(values[..<history]), horizon: 7 * Self.perDay, interval: 0.9)
        let mae = Self.error(forecast, history: history, truth: truth)
        let covered = zip(values[history...], forecast.points).filter { $1.lower <= $0 && $0 <= $1.upper }.count
        let coverage = Double(covered) / Double(forecast.points.count)
        print("weekends and a level raised days 20-24 of 28: week-ahead MAE \(mae), 90 % coverage \(coverage)")
        #expect(mae < 2, "weekday and weekend levels both right")
        #expect(coverage > 0.8 && coverage < 0.99)
        #expect(forecast.points.allSatisfy { $0.lower <= $0.value && $0.value <= $0.upper })
    }

    @Test func testTheMedianWithoutSortingIsTheSortedMedian() {
        var random = SplitMix64(seed: 9)
        for n in Array(1...40) + [97, 288, 1000] {
            // Few distinct values too: ties around the middle.
            let values = (0..<n).map { _ in n % 3 == 0 ? Double(Int.random(in: 0..<4, using: &random)) : Double.random(in: -5..<5, using: &random) }
            let sorted = values.sorted()
            let expected = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
            #expect(Forecaster.median(values) == expected, "n = \(n)")
        }
    }

    @Test func testSpikesDoNotPullTheForecast() throws {
        let truth = { (i: Int) in 100 + Self.daily(i) }
        let (times, clean) = Self.series(days: 14, noise: 1, seed: 4, truth: truth)
        var values = clean
        var random = SplitMix64(seed: 44)
        for _ in 0..<(values.count / 100) { values[Int.random(in: 0..<values.count, using: &random)] += 400 }
        let forecast = try Forecaster.forecast(times: times, values: values, horizon: Self.perDay)
        let mae = Self.error(forecast, history: times.count, truth: truth)
        print("1 % spikes of +400: forecast MAE \(mae)")
        #expect(mae < 1.5)
    }

    @Test func testGapsAndJitteredTimestampsKeepTheGrid() throws {
        let truth = { (i: Int) in 100 + Self.daily(i) }
        let (allTimes, allValues) = Self.series(days: 14, noise: 1, seed: 5, truth: truth)
        var random = SplitMix64(seed: 55)
        var times: [Date] = [], values: [Double] = []
        for i in allTimes.indices {
            // 10 % missing, a six-hour outage, every timestamp up to 40 s late.
            if Double.random(in: 0..<1, using: &random) < 0.1 || (5 * Self.perDay..<5 * Self.perDay + 72).contains(i) { continue }
            times.append(allTimes[i].addingTimeInterval(Double.random(in: 0..<40, using: &random)))
            values.append(allValues[i])
        }
        // Out of order too.
        let order = times.indices.shuffled(using: &random)
        let forecast = try Forecaster.forecast(times: order.map { times[$0] }, values: order.map { values[$0] }, horizon: Self.perDay)
        let mae = Self.error(forecast, history: allTimes.count, truth: truth)
        print("gaps (10 % + 6 h) and jitter: step \(forecast.stepSeconds) s, forecast MAE \(mae)")
        #expect(forecast.stepSeconds == 300)
        #expect(forecast.fittedSamples == times.count)
        #expect(mae < 1.5)
    }

    @Test func testIntervalsCoverWhatFollows() throws {
        let truth = { (i: Int) in 100 + Self.daily(i) }
        let (times, values) = Self.series(days: 28, noise: 3, seed: 6, truth: truth)
        let history = 21 * Self.perDay
        let forecast = try Forecaster.forecast(
            times: Array(times[..<history]), values: Array(values[..<history]), horizon: 7 * Self.perDay, interval: 0.9)
        let covered = zip(values[history...], forecast.points).filter { $1.lower <= $0 && $0 <= $1.upper }.count
        let coverage = Double(covered) / Double(forecast.points.count)
        print("90 % intervals over the following week: coverage \(coverage), from \(forecast.backtestErrors) out-of-sample errors")
        #expect(coverage > 0.85 && coverage < 0.97)
        #expect(forecast.points.allSatisfy { $0.lower <= $0.value && $0.value <= $0.upper })
    }

    @Test func testACrossingOfSteadyGrowthIsFoundWithinADay() throws {
        let truth = { (i: Int) in 50 + 10 * Double(i) / Double(7 * Self.perDay) + 5 * sin(2 * .pi * Double(i % Self.perDay) / Double(Self.perDay)) }
        let (times, values) = Self.series(days: 28, noise: 1, seed: 7, truth: truth)
        // A limit the truth first reaches about three days after the history ends.
        let n = times.count
        let limit = (n..<(n + 7 * Self.perDay)).map(truth)[3 * Self.perDay]
        let first = (n..<(n + 7 * Self.perDay)).first { truth($0) >= limit }!
        let forecast = try Forecaster.forecast(times: times, values: values, horizon: 7 * Self.perDay, threshold: limit)
        let crossing = try #require(forecast.crossing)
        let at = try #require(crossing.timestamp)
        let predictedStep = Int(((at.timeIntervalSince1970 - Self.start) / Self.step).rounded())
        let errorDays = Double(abs(predictedStep - first)) / Double(Self.perDay)
        print("crossing of \(limit): predicted \(errorDays) days from the truth, probability \(crossing.probability)")
        #expect(errorDays <= 1)
        #expect(crossing.direction == "above" && crossing.probability > 0.5)
        // A limit far beyond reach: no crossing, a small chance.
        let far = try Forecaster.forecast(times: times, values: values, horizon: Self.perDay, threshold: 1000)
        #expect(far.crossing?.timestamp == nil && (far.crossing?.probability ?? 1) < 0.01)
    }

    @Test func testTooLittleHistoryNamesWhatThereIs() throws {
        let (times, values) = Self.series(days: 1, noise: 1, truth: { _ in 5 })
        #expect(throws: Forecaster.Failure.tooLittleHistory(samples: 288, days: 287 * 300 / 86_400)) {
            try Forecaster.forecast(times: times, values: values, horizon: 10)
        }
        #expect(throws: Forecaster.Failure.self) { try Forecaster.forecast(times: [Date()], values: [1], horizon: 10) }
        let failure = Forecaster.Failure.tooLittleHistory(samples: 288, days: 0.9965)
        #expect(failure.description.contains("288 samples over 1.0 days"))
    }
}
