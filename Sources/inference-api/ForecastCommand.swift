import AnomalyDetection
import ArgumentParser
import ComputeSupport
import Foundation

/// `inference-api forecast --csv FILE --metric NAME --horizon N`: the forecast `/anomaly/forecast`
/// gives, offline, from a CSV file with a `timestamp` column (ISO 8601 or seconds since 1970) and
/// one column per metric; printed as CSV (`timestamp,value,lower,upper`), the crossing and the
/// trend as `#` lines after it.
struct ForecastCSV: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forecast", abstract: "Forecast one metric of a CSV history, printed as CSV.")

    @Option(help: "CSV file: a header naming `timestamp` and the metrics, then one sample a line.") var csv: String
    @Option(help: "The column to forecast.") var metric: String
    @Option(help: "Steps after the last sample, at the history's own spacing (1-\(Forecaster.maximumHorizon)).") var horizon = 288
    @Option(help: "Central probability of the interval (0.5-0.99).") var interval = 0.9
    @Option(help: "A limit: print when the forecast first passes it and the chance that it does.") var threshold: Double?

    func run() throws {
        guard (1...Forecaster.maximumHorizon).contains(horizon) else { throw ValidationError("--horizon is 1 to \(Forecaster.maximumHorizon)") }
        guard (0.5...0.99).contains(interval) else { throw ValidationError("--interval is 0.5 to 0.99") }
        let text: String
        do { text = try String(contentsOfFile: csv, encoding: .utf8) } catch { throw ValidationError("cannot read \(csv): \(error.localizedDescription)") }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !lines.isEmpty else { throw ValidationError("\(csv) is empty") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let timeColumn = header.firstIndex(of: "timestamp") else { throw ValidationError("\(csv): the header has no timestamp column") }
        guard let valueColumn = header.firstIndex(of: metric) else {
            throw ValidationError("\(csv) has no column \(metric); its columns are \(header.filter { $0 != "timestamp" }.joined(separator: ", "))")
        }
        var times: [Date] = [], values: [Double] = []
        for (number, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == header.count else { throw ValidationError("\(csv) line \(number + 2): \(fields.count) fields, the header has \(header.count)") }
            let stamp = fields[timeColumn]
            guard let time = Double(stamp).map({ Date(timeIntervalSince1970: $0) }) ?? ISO8601.parse(stamp) else {
                throw ValidationError("\(csv) line \(number + 2): the timestamp '\(stamp)' is neither ISO 8601 nor seconds since 1970")
            }
            // An empty or non-numeric cell is a missing sample.
            guard let value = Double(fields[valueColumn]), value.isFinite else { continue }
            times.append(time)
            values.append(value)
        }
        let forecast: Forecaster.Forecast
        do {
            forecast = try Forecaster.forecast(times: times, values: values, horizon: horizon, interval: interval, threshold: threshold)
        } catch let failure as Forecaster.Failure {
            throw ValidationError(failure.description)
        }
        var out = "timestamp,value,lower,upper\n"
        for point in forecast.points {
            out += "\(ISO8601.format(point.timestamp)),\(point.value),\(point.lower),\(point.upper)\n"
        }
        out += "# \(Forecaster.method): \(forecast.components.joined(separator: ", ")); \(forecast.fittedSamples) samples every \(Int(forecast.stepSeconds)) s; growth \(forecast.growthPerWeek) a week\n"
        if let crossing = forecast.crossing {
            out += "# crossing \(crossing.direction) \(crossing.threshold): \(crossing.timestamp.map(ISO8601.format) ?? "none within the horizon"), probability \(crossing.probability)\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
