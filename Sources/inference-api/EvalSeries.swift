import ComputeSupport
import Foundation
import Storage

/// A labelled EMS series for `eval-anomaly`: one asset's 5-minute samples of cpu, memory,
/// bandwidth and latency, shaped like fixtures/anomaly/ems_series.json (a daily cycle, noise,
/// latency following bandwidth) but with heavy-tailed bandwidth (Student t, 3 degrees of
/// freedom) and every anomaly kind the detectors must find, sized in each metric's standard
/// deviation over the clean series as the fixture does:
/// - spike: one sample moved by 3 to 6 standard deviations, either way;
/// - level_shift: 12 to 96 samples moved by 2 to 4 standard deviations, either way;
/// - stuck: 24 to 96 samples repeating the value at onset.
/// Per 10,080 samples: 60 spikes, 6 shifts, 5 stuck runs (about 6.7 % of samples), never within
/// 20 samples of each other, none in the first 50 (each batch is scored with history).
///
/// The `hard` generator (issue 26) is less kind: bandwidth's noise is multiplicative and heavy
/// both ways (a lognormal-like factor with Student-t3 exponent), latency's noise Student t3;
/// spikes last 1 sample (two in three) or 2 to 4; level shifts go up or down by 2 to 4 standard
/// deviations for 6 to 288 samples (log-uniform), and some are drops of most of a metric's level
/// (to 10-40 % of it: a link losing most of its traffic); stuck values hold an ordinary reading
/// for 6 to 144 samples. Per 10,080 samples: 60 spikes, 5 shifts, 3 drops, 6 stuck runs. The
/// training history is generated the same way, so every asset is trained on contaminated data.
struct EvalSeries {
    enum Generator: String, CaseIterable {
        case standard, hard
    }

    static let metrics = ["cpu_pct", "memory_pct", "bandwidth_mbps", "latency_ms"]
    static let step = 300.0

    struct Event {
        let kind: String
        let metric: Int
        let start: Int
        let length: Int
    }

    var times: [Date] = []
    var rows: [[Double]] = []
    /// Per sample: "" (normal), "spike", "level_shift" or "stuck".
    var kinds: [String] = []
    var events: [Event] = []

    /// The asset's behaviour, drawn once per asset so its training and test series agree.
    struct Asset {
        let base: [Double], amplitude: [Double], noise: [Double], phase: Double
        init(_ rng: inout SplitMix64) {
            func u(_ low: Double, _ high: Double) -> Double { low + (high - low) * rng.nextUnit() }
            base = [u(25, 45), u(50, 70), u(300, 500), u(15, 25)]
            amplitude = [u(8, 18), u(3, 6), u(100, 200), 0]
            noise = [u(2, 4), u(1, 2), u(20, 30), u(1.5, 2.5)]
            phase = u(0, 2 * .pi)
        }
    }

    static func make(_ asset: Asset, count: Int, first: Int, start: Date, rng: inout SplitMix64, generator: Generator = .standard) -> EvalSeries {
        var series = EvalSeries()
        let hard = generator == .hard
        for i in 0..<count {
            let t = Double(first + i)
            let angle = 2 * Double.pi * t / 288 + asset.phase
            let cpu = asset.base[0] + asset.amplitude[0] * sin(angle) + asset.noise[0] * gaussian(&rng)
            let memory = asset.base[1] + asset.amplitude[1] * sin(angle + 1) + asset.noise[1] * gaussian(&rng)
            let level = asset.base[2] + asset.amplitude[2] * sin(angle - 0.5)
            let bandwidth = hard ? level * exp(0.12 * studentT3(&rng)) : max(0, level + asset.noise[2] * studentT3(&rng))
            let latency = asset.base[3] + 0.02 * bandwidth + asset.noise[3] * (hard ? studentT3(&rng) : gaussian(&rng))
            series.rows.append([min(100, max(0, cpu)), min(100, max(0, memory)), bandwidth, latency])
            series.times.append(start.addingTimeInterval(t * step))
        }
        series.kinds = Array(repeating: "", count: count)
        let std = metrics.indices.map { m in standardDeviation(series.rows.map { $0[m] }) }
        let scale = Double(count) / 10_080
        let plan: [(String, Int)] =
            hard
            ? [("spike", Int(60 * scale)), ("level_shift", Int((5 * scale).rounded())), ("drop", Int((3 * scale).rounded())),
               ("stuck", Int((6 * scale).rounded()))]
            : [("spike", Int(60 * scale)), ("level_shift", Int((6 * scale).rounded())), ("stuck", Int((5 * scale).rounded()))]
        for (kind, number) in plan {
            for _ in 0..<number { series.inject(kind, std: std, rng: &rng, hard: hard) }
        }
        return series
    }

    /// Samples an injected anomaly lasts.
    private static func length(_ kind: String, hard: Bool, rng: inout SplitMix64) -> Int {
        guard hard else { return kind == "spike" ? 1 : kind == "level_shift" ? 12 + Int(rng.next() % 85) : 24 + Int(rng.next() % 73) }
        switch kind {
        case "spike": return rng.next() % 3 == 0 ? 2 + Int(rng.next() % 3) : 1
        case "stuck": return 6 + Int(rng.next() % 139)
        default: return Int(exp(log(6.0) + (log(288.0) - log(6.0)) * rng.nextUnit()).rounded())
        }
    }

    private mutating func inject(_ kind: String, std: [Double], rng: inout SplitMix64, hard: Bool) {
        let length = Self.length(kind, hard: hard, rng: &rng)
        for _ in 0..<1000 {
            let start = 50 + Int(rng.next() % UInt64(rows.count - 50 - length))
            let clear = events.allSatisfy { start + length + 20 <= $0.start || $0.start + $0.length + 20 <= start }
            guard clear else { continue }
            // Drops hit the metrics whose level can fall away (cpu, bandwidth).
            let m = kind == "drop" ? (rng.next() % 2 == 0 ? 0 : 2) : Int(rng.next() % UInt64(Self.metrics.count))
            let sign: Double = rng.next() % 2 == 0 ? 1 : -1
            let held = rows[start][m]
            let move = kind == "spike" ? sign * (3 + 3 * rng.nextUnit()) * std[m] : sign * (2 + 2 * rng.nextUnit()) * std[m]
            let factor = kind == "drop" ? 0.1 + 0.3 * rng.nextUnit() : 1
            // A drop is a downward level shift: labelled as one, so recall is per kind the detectors know.
            let label = kind == "drop" ? "level_shift" : kind
            for i in start..<(start + length) {
                switch kind {
                case "stuck": rows[i][m] = held
                case "drop": rows[i][m] *= factor
                default: rows[i][m] = max(0, rows[i][m] + move)
                }
                kinds[i] = label
            }
            events.append(Event(kind: label, metric: m, start: start, length: length))
            return
        }
    }

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.nextUnit(), 1e-300), v = rng.nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    static func studentT3(_ rng: inout SplitMix64) -> Double {
        let chi2 = (0..<3).reduce(0.0) { sum, _ in let g = gaussian(&rng); return sum + g * g }
        return gaussian(&rng) / (chi2 / 3).squareRoot()
    }

    static func standardDeviation(_ values: [Double]) -> Double {
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
    }
}
