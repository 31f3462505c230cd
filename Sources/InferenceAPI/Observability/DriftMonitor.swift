import Artifacts
import Synchronization

/// Per-feature drift of the readings the model is asked about, against its training baseline
/// (the scaler's mean and scale: what `StandardScaler` learnt): over the last `window` readings,
/// the mean shift in training standard deviations, `(window mean - training mean) / scale`, and
/// the spread ratio, `window std / scale`. A feature whose |mean shift| passes `threshold` is
/// reported as drifted.
///
/// Requests only copy their raw rows into a ring buffer (one lock, a memcpy-sized loop); the
/// statistics are computed when asked (`GET /drift`, a metrics scrape). The buffer restarts when
/// the served model changes, because the baseline does.
final class DriftMonitor: Sendable {
    struct Feature: Sendable, Encodable {
        let name: String
        let training_mean: Double?
        let training_scale: Double?
        let window_mean: Double?
        let window_std: Double?
        /// (window mean - training mean) / training scale.
        let mean_shift: Double?
        /// window std / training scale.
        let std_ratio: Double?
        let drifted: Bool
        /// Readings in the window with a value for this feature.
        let count: Int

        var meanShift: Double? { mean_shift }
    }

    struct Report: Sendable, Encodable {
        let run_id: String?
        let baseline: String
        let window: Int
        let readings: Int
        let threshold: Double
        let drifted: [String]
        let features: [Feature]
    }

    private struct State {
        var runId: String?
        var featureCount = 0
        /// `window` rows of `featureCount` raw values, row-major; `next` is where the next row goes.
        var rows: [Double] = []
        var next = 0
        var filled = 0
    }

    let window: Int
    let threshold: Double
    private let state = Mutex(State())

    init(window: Int, threshold: Double) {
        self.window = window
        self.threshold = threshold
    }

    /// Records `rows` raw readings (row-major, the model's feature order) served by `model`.
    func observe(model: HazardModel, raw: UnsafeBufferPointer<Double>, rows: Int) {
        let features = model.featureCount
        guard rows > 0, raw.count >= rows * features else { return }
        // Only the newest `window` rows can stay in the buffer.
        let skip = max(0, rows - window)
        state.withLock { state in
            if state.runId != model.runId || state.featureCount != features {
                state = State(runId: model.runId, featureCount: features, rows: Array(repeating: .nan, count: window * features))
            }
            state.rows.withUnsafeMutableBufferPointer { buffer in
                for r in skip..<rows {
                    let target = state.next * features
                    for f in 0..<features { buffer[target + f] = raw[r * features + f] }
                    state.next = (state.next + 1) % window
                }
            }
            state.filled = min(window, state.filled + rows - skip)
        }
    }

    /// The drift of every feature of `model` over the current window.
    func report(model: HazardModel?) -> Report {
        guard let model else {
            return Report(run_id: nil, baseline: "none", window: window, readings: 0, threshold: threshold, drifted: [], features: [])
        }
        let (values, filled) = state.withLock { state -> ([Double], Int) in
            state.runId == model.runId ? (state.rows, state.filled) : ([], 0)
        }
        let baseline = model.scaler.baseline
        let features = model.featureCount
        var out: [Feature] = []
        out.reserveCapacity(features)
        for f in 0..<features {
            var count = 0
            var sum = 0.0
            for r in 0..<filled {
                let v = values[r * features + f]
                if v.isFinite { count += 1; sum += v }
            }
            let mean = count > 0 ? sum / Double(count) : nil
            var std: Double?
            if let mean, count > 1 {
                var squares = 0.0
                for r in 0..<filled {
                    let v = values[r * features + f]
                    if v.isFinite { squares += (v - mean) * (v - mean) }
                }
                std = (squares / Double(count - 1)).squareRoot()
            }
            let trainingMean = baseline.map { $0.mean[f] }
            let scale = baseline.map { $0.scale[f] }.flatMap { $0 > 0 ? $0 : nil }
            var shift: Double?
            var ratio: Double?
            if let mean, let trainingMean, let scale { shift = (mean - trainingMean) / scale }
            if let std, let scale { ratio = std / scale }
            // Readings near Double's limits can overflow the sums: report those as unknown, never
            // as a number JSON cannot carry.
            let finite = { (v: Double?) in v.flatMap { $0.isFinite ? $0 : nil } }
            out.append(
                Feature(
                    name: model.featureNames[f], training_mean: finite(trainingMean), training_scale: finite(scale), window_mean: finite(mean),
                    window_std: finite(std), mean_shift: finite(shift), std_ratio: finite(ratio),
                    drifted: shift.map { !$0.isFinite || abs($0) > threshold } ?? false, count: count))
        }
        return Report(
            run_id: model.runId, baseline: baseline == nil ? "none (the scaler keeps no mean and scale)" : "scaler (\(model.scaler.kind))",
            window: window, readings: filled, threshold: threshold, drifted: out.filter(\.drifted).map(\.name), features: out)
    }
}
