import AnomalyDetection
import ArgumentParser
import Foundation

/// `inference-api eval-forecast` (`make eval-forecast`): the forecaster (`Forecaster`, what
/// `/anomaly/forecast` answers with) on the series of bench/forecast/generate.py, beside Prophet,
/// statsforecast's MSTL and the weekly seasonal naive (bench/forecast/peers.py, read from
/// `--peers`). Per series and on average: MASE at one day and at seven days (scaled by the
/// in-sample MAE of the one-day seasonal naive), the 90 % interval's coverage of the held-out
/// week, and the time to fit four weeks and forecast one (the fastest of `--repeats` runs); then
/// the crossing check on the growth series and issue 28's goals, each met or missed.
struct EvalForecast: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-forecast", abstract: "MASE, interval coverage and speed of the forecaster against Prophet and MSTL on generated series.")

    @Option(help: "Series written by bench/forecast/generate.py.") var series: String
    @Option(help: "Prophet's, MSTL's and the naive's results on the same series (bench/forecast/peers.py).") var peers: String?
    @Option(help: "Timed runs per series (the fastest counts).") var repeats = 5

    struct Series: Decodable {
        let name: String
        let kind: String
        let start: Double
        let step: Double
        let train: [Double?]
        let test: [Double]
        let threshold: Double?
        let crossing_step: Int?
    }

    struct Scores: Decodable {
        let mase_1d: Double
        let mase_7d: Double
        let coverage: Double?
        let seconds: Double
    }

    func run() throws {
        let all = try JSONDecoder().decode([String: [Series]].self, from: Data(contentsOf: URL(fileURLWithPath: series)))["series"] ?? []
        let peerScores = try peers.map { try JSONDecoder().decode([String: [String: Scores]].self, from: Data(contentsOf: URL(fileURLWithPath: $0))) } ?? [:]
        let methods = ["prophet", "mstl", "naive"]
        print("## make eval-forecast: \(all.count) series, 28 days of 5-minute history, 7 days held out, 90 % intervals")
        print("")
        print("| series | ours MASE 1d / 7d | coverage | ms | " + methods.map { "\($0) MASE 1d / 7d, coverage, s" }.joined(separator: " | ") + " |")
        print("|---|---|---|---|" + methods.map { _ in "---|" }.joined())
        var ours: [Scores] = []
        var crossings: [(name: String, errorDays: Double?)] = []
        for s in all {
            let times = s.train.indices.compactMap { s.train[$0] == nil ? nil : Date(timeIntervalSince1970: s.start + Double($0) * s.step) }
            let values = s.train.compactMap { $0 }
            var best = Double.infinity
            var forecast: Forecaster.Forecast?
            for _ in 0..<max(1, repeats) {
                let started = ContinuousClock.now
                forecast = try Forecaster.forecast(times: times, values: values, horizon: s.test.count, interval: 0.9, threshold: s.threshold)
                let elapsed = ContinuousClock.now - started
                best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            guard let forecast else { continue }
            let scale = Self.naiveScale(s.train)
            let points = forecast.points
            let firstDay = min(288, s.test.count)
            let mase1 = zip(s.test.prefix(firstDay), points.prefix(firstDay)).map { abs($0 - $1.value) }.reduce(0, +) / Double(firstDay) / scale
            let mase7 = zip(s.test, points).map { abs($0 - $1.value) }.reduce(0, +) / Double(s.test.count) / scale
            let covered = zip(s.test, points).filter { $1.lower <= $0 && $0 <= $1.upper }.count
            let scores = Scores(mase_1d: mase1, mase_7d: mase7, coverage: Double(covered) / Double(s.test.count), seconds: best)
            ours.append(scores)
            if let truth = s.crossing_step {
                let step = forecast.crossing?.timestamp.map { Int((($0.timeIntervalSince1970 - s.start) / s.step).rounded()) - s.train.count }
                crossings.append((s.name, step.map { Double(abs($0 - truth)) * s.step / 86_400 }))
            }
            let peerColumns = methods.map { method -> String in
                guard let p = peerScores[s.name]?[method] else { return "–" }
                return "\(Self.f(p.mase_1d)) / \(Self.f(p.mase_7d)), \(p.coverage.map { Self.percent($0) } ?? "–"), \(Self.f(p.seconds, 2))"
            }
            print(
                "| \(s.name) | \(Self.f(mase1)) / \(Self.f(mase7)) | \(Self.percent(scores.coverage ?? 0)) | \(Self.f(best * 1000, 1)) | "
                    + peerColumns.joined(separator: " | ") + " |")
        }
        guard !ours.isEmpty else { throw ValidationError("no series in \(series)") }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }
        let ourMase1 = mean(ours.map(\.mase_1d)), ourMase7 = mean(ours.map(\.mase_7d)), ourCoverage = mean(ours.compactMap(\.coverage))
        let ourSeconds = ours.map(\.seconds).sorted()[ours.count / 2]
        var averages = "| mean | \(Self.f(ourMase1)) / \(Self.f(ourMase7)) | \(Self.percent(ourCoverage)) | \(Self.f(ourSeconds * 1000, 1)) (median) | "
        var peerMeans: [String: (mase1: Double, mase7: Double, coverage: Double?, seconds: Double)] = [:]
        for method in methods {
            let rows = all.compactMap { peerScores[$0.name]?[method] }
            guard rows.count == all.count else {
                averages += "– | "
                continue
            }
            let coverage = rows.allSatisfy { $0.coverage != nil } ? mean(rows.compactMap(\.coverage)) : nil
            let m = (mean(rows.map(\.mase_1d)), mean(rows.map(\.mase_7d)), coverage, mean(rows.map(\.seconds)))
            peerMeans[method] = m
            averages += "\(Self.f(m.0)) / \(Self.f(m.1)), \(m.2.map { Self.percent($0) } ?? "–"), \(Self.f(m.3, 2)) | "
        }
        print(averages)
        print("")
        print("MASE: mean absolute error over the first day (1d) or the whole held-out week (7d), over the in-sample MAE of the one-day seasonal naive.")
        print("ms: fit on the history and forecast the week (2,016 steps), in process, the fastest of \(repeats) runs; peers' s: fit + forecast, one run.")
        print("")
        print("| goal | bar | measured | |")
        print("|---|---|---|---|")
        func goal(_ name: String, _ bar: String, _ measured: String, _ met: Bool?) {
            print("| \(name) | \(bar) | \(measured) | \(met.map { $0 ? "met" : "MISSED" } ?? "n/a (peers not run)") |")
        }
        let best1 = [peerMeans["prophet"]?.mase1, peerMeans["mstl"]?.mase1].compactMap { $0 }.min()
        let best7 = [peerMeans["prophet"]?.mase7, peerMeans["mstl"]?.mase7].compactMap { $0 }.min()
        goal("mean MASE, 1 day", "<= 0.95 x best of Prophet, MSTL" + (best1.map { " (\(Self.f(0.95 * $0)))" } ?? ""), Self.f(ourMase1), best1.map { ourMase1 <= 0.95 * $0 })
        goal("mean MASE, 7 days", "<= 0.95 x best of Prophet, MSTL" + (best7.map { " (\(Self.f(0.95 * $0)))" } ?? ""), Self.f(ourMase7), best7.map { ourMase7 <= 0.95 * $0 })
        goal("90 % interval coverage (mean)", "87-93 %", Self.percent(ourCoverage), ourCoverage >= 0.87 && ourCoverage <= 0.93)
        goal("fit + 2,016-step forecast of 8,064 samples (median series)", "<= 20 ms", "\(Self.f(ourSeconds * 1000, 1)) ms", ourSeconds <= 0.020)
        if let prophet = peerMeans["prophet"]?.seconds {
            goal("speed vs Prophet (same machine)", ">= 100x", "\(Self.f(prophet / ourSeconds, 0))x", prophet / ourSeconds >= 100)
        } else {
            goal("speed vs Prophet (same machine)", ">= 100x", "–", nil)
        }
        let misses = crossings.filter { ($0.errorDays ?? .infinity) > 1 }
        let shown = crossings.map { "\($0.name): \($0.errorDays.map { Self.f($0, 2) + " d" } ?? "none")" }.joined(separator: ", ")
        goal("crossing time on steady growth, within 1 day of the truth", "every growth series", shown, crossings.isEmpty ? nil : misses.isEmpty)
    }

    /// The in-sample MAE of the one-day seasonal naive (missing pairs left out).
    static func naiveScale(_ train: [Double?]) -> Double {
        var sum = 0.0, count = 0
        for i in 288..<train.count {
            if let a = train[i], let b = train[i - 288] {
                sum += abs(a - b)
                count += 1
            }
        }
        return count > 0 ? sum / Double(count) : 1
    }

    static func f(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
    static func percent(_ value: Double) -> String { String(format: "%.1f %%", value * 100) }
}
