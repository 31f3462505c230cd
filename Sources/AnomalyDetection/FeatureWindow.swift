/// Turns metric samples into the feature rows a detector sees, the same way at training and at
/// scoring time (no train/serve skew).
///
/// With `window == 0` a row is the raw metrics. With `window = w > 0`, per metric: the value,
/// the rolling mean, standard deviation, min and max over the last `w` samples (this one
/// included), and the change from the previous sample. History before the first sample comes
/// from stored samples of the asset; where there is less than `w`, the window is what exists.
public struct FeatureWindow: Codable, Sendable, Equatable {
    /// Metric names in column order.
    public let metrics: [String]
    public let window: Int

    public init(metrics: [String], window: Int) {
        self.metrics = metrics
        self.window = max(0, window)
    }

    public var featureNames: [String] {
        guard window > 0 else { return metrics }
        return metrics.flatMap { m in ["\(m)", "\(m)_mean_\(window)", "\(m)_std_\(window)", "\(m)_min_\(window)", "\(m)_max_\(window)", "\(m)_delta"] }
    }

    public var featureCount: Int { window > 0 ? metrics.count * 6 : metrics.count }

    /// Feature rows, row-major, one per sample. `history` and `samples` are rows of metric values
    /// in `metrics` order, oldest first; `history` precedes `samples`.
    public func rows(history: [[Double]], samples: [[Double]]) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(samples.count * featureCount)
        guard window > 0 else {
            for sample in samples { out += sample }
            return out
        }
        let keep = history.suffix(window)
        let series = Array(keep) + samples
        let offset = keep.count
        for index in 0..<samples.count {
            let t = offset + index
            let start = max(0, t - window + 1)
            for m in 0..<metrics.count {
                let value = series[t][m]
                var sum = 0.0, low = Double.infinity, high = -Double.infinity
                for k in start...t {
                    let v = series[k][m]
                    sum += v
                    low = min(low, v)
                    high = max(high, v)
                }
                let n = Double(t - start + 1)
                let mean = sum / n
                var squares = 0.0
                for k in start...t { squares += (series[k][m] - mean) * (series[k][m] - mean) }
                let previous = t > 0 ? series[t - 1][m] : value
                out += [value, mean, (squares / n).squareRoot(), low, high, value - previous]
            }
        }
        return out
    }
}
