import Foundation

/// The chance that an ordinary sample of an asset reaches a detector's raw statistic, estimated
/// from the statistic's values over the asset's training history.
///
/// The history holds anomalies (the data: 6.7 %), so the empirical tail is theirs, not
/// the normal samples': a spike seen in training would make the same spike look common. The fit
/// therefore reads only three quantiles of the body (by default the median, 75th and 90th
/// percentiles) and extends them with a generalised Pareto tail matched to those quantiles: shape 0 (exponential) for light
/// tails, up to 1 for heavy ones (bandwidth bursts). A bounded tail (shape < 0) is not allowed:
/// it would call every value past its end impossible.
public struct TailFit: Codable, Sendable, Equatable {
    /// The lowest of the three quantiles fitted, and the tail probability there.
    public let anchor: Double
    public let anchorTail: Double
    public let scale: Double
    public let shape: Double

    /// The body's quantiles used by default: good while anomalies are under 10 % of the values.
    public static let body = (0.5, 0.75, 0.9)

    public init(anchor: Double, anchorTail: Double, scale: Double, shape: Double) {
        self.anchor = anchor
        self.anchorTail = anchorTail
        self.scale = scale
        self.shape = shape
    }

    /// Fits the tail through the quantiles `levels` of `values` (ascending levels).
    public init(_ values: [Double], levels: (Double, Double, Double) = body) {
        let sorted = values.filter(\.isFinite).sorted()
        let tails = (1 - levels.0, 1 - levels.1, 1 - levels.2)
        guard !sorted.isEmpty else {
            self.init(anchor: 0, anchorTail: tails.0, scale: 1, shape: 0)
            return
        }
        self.init(
            quantiles: (
                StatisticalDetectors.quantile(sorted, levels.0), StatisticalDetectors.quantile(sorted, levels.1),
                StatisticalDetectors.quantile(sorted, levels.2)
            ), tails: tails)
    }

    /// Fits the tail through three quantiles of the statistic, ascending, and the tail
    /// probabilities they stand at (descending). With `minimumShape`, a lighter tail than that is
    /// not believed: the curve then keeps the first and last points with that shape.
    public init(quantiles q: (Double, Double, Double), tails: (Double, Double, Double), minimumShape: Double = 0) {
        let (s1, s2, s3) = tails
        let u = q.0, a = q.1 - u, b = q.2 - u
        let floor = 1e-9 * max(1, abs(u))
        // S(u + x) = s1 (1 + shape x / scale)^(-1/shape), through s2 at a and s3 at b.
        let (ka, kb) = (log(s1 / s2), log(s1 / s3))
        guard a > floor, b > a else {
            // A statistic that hardly varies: any clear move above the anchor is rare.
            if minimumShape > 0, b > floor {
                self.init(anchor: u, anchorTail: s1, scale: minimumShape * b / expm1(minimumShape * kb), shape: minimumShape)
            } else {
                self.init(anchor: u, anchorTail: s1, scale: max(b / kb, floor), shape: 0)
            }
            return
        }
        let ratio = b / a
        guard ratio > kb / ka else {
            self.init(anchor: u, anchorTail: s1, scale: minimumShape > 0 ? minimumShape * b / expm1(minimumShape * kb) : b / kb, shape: minimumShape)
            return
        }
        let growth = { (k: Double) in expm1(k * kb) / expm1(k * ka) }
        var low = 1e-6, high = 1.0
        if growth(high) < ratio {
            low = high
        } else {
            for _ in 0..<60 {
                let mid = (low + high) / 2
                if growth(mid) < ratio { low = mid } else { high = mid }
            }
        }
        if low < minimumShape {
            self.init(anchor: u, anchorTail: s1, scale: minimumShape * b / expm1(minimumShape * kb), shape: minimumShape)
        } else {
            self.init(anchor: u, anchorTail: s1, scale: low * a / expm1(low * ka), shape: low)
        }
    }

    /// P(statistic >= x) for an ordinary sample, in (0, 1].
    public func tail(_ x: Double) -> Double {
        guard x.isFinite else { return x.isNaN ? 1 : (x > 0 ? 0 : 1) }
        let excess = (x - anchor) / scale
        if excess <= 0 || shape < 1e-9 { return min(1, anchorTail * exp(-excess)) }
        return anchorTail * pow(1 + shape * excess, -1 / shape)
    }
}

/// The one scale every calibrated detector reports on.
///
/// `score = -log10(p) / 5`, clamped to 0...1, where `p` is the chance that an ordinary sample of
/// this asset scores at least this high on the detector (already multiplied by the number of
/// metrics for per-metric detectors). So a threshold `t` is a false-alarm budget per detector:
/// 0.6 lets through 1 normal sample in 1,000; 0.4 one in 100; 0.8 one in 10,000.
public enum CalibratedScore {
    public static let decades = 5.0

    public static func score(tail p: Double) -> Double {
        guard p > 0 else { return 1 }
        guard p < 1 else { return 0 }
        return min(1, -log10(p) / decades)
    }

    /// The tail probability a score stands for (the budget a threshold sets).
    public static func tail(score: Double) -> Double { pow(10, -decades * score) }
}
