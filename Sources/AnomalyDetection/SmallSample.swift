import Foundation

/// Tail probabilities for the fallback detectors, estimated from an asset's recent samples only
/// (a few to 200), each accounting for its estimates' own error so that a score means on a new
/// asset what it means on a trained one (`CalibratedScore`): the chance that an ordinary sample
/// scores that high.
///
/// Written here because no package this project may use offers the Student t distribution or
/// the regularised incomplete beta function (swift-numerics stops at the gamma function).
public enum SmallSample {
    /// The lightest tail the fallback believes from a window: a generalised Pareto shape of
    /// 0.25 (a Student t of 4 degrees of freedom), since 200 samples cannot show how heavy a tail is
    /// a thousand samples out.
    public static let minimumShape = 0.25

    /// Degrees of freedom the t prediction uses at most: 2, not the `n - 1` normal noise would
    /// allow, since 29 samples or fewer cannot tell normal noise from a heavy-tailed metric (with
    /// 3, lognormal and Student-t3 noise passed 0.6 up to five times as often as the budget).
    public static let referenceDegrees = 2

    /// History below which the t prediction is used; from here on, the fitted tail of the distances.
    public static let tailFitHistory = 30

    /// P(|x_new - mean| >= |x - mean|) for a new sample of a normal metric whose mean and standard
    /// deviation are estimated from `n` samples: the Student t prediction interval, `n - 1` degrees
    /// of freedom, so a tiny history cannot make an ordinary sample look rare.
    static func tPrediction(_ x: Double, mean: Double, sampleStd s: Double, n: Int, maximumDegrees: Int = .max) -> Double {
        let spread = s * (1 + 1 / Double(n)).squareRoot()
        guard spread > 0 else { return x == mean ? 1 : 0 }
        let t = abs(x - mean) / spread
        let df = Double(min(n - 1, maximumDegrees))
        return regularizedIncompleteBeta(df / 2, 0.5, df / (df + t * t))
    }

    /// The body tail probabilities a distance tail is fitted through, widened by one standard
    /// error of an empirical quantile from `n` samples: with few samples the quantiles are
    /// uncertain, and the fit then assumes the heavier tail they allow.
    static func bodyTails(n: Int) -> (Double, Double, Double) {
        let widen = { (s: Double) in min(0.95, s + (s * (1 - s) / Double(n)).squareRoot()) }
        return (widen(0.5), widen(0.25), widen(0.1))
    }

    /// The chance that a metric, which repeated its previous value `repeats` times over `pairs`
    /// consecutive pairs of its history, repeats a value `j` more times in a row: the mean of
    /// r^j over r's posterior (uniform prior), so a short history leaves long runs possible.
    static func repeatRun(_ j: Int, repeats: Int, pairs: Int) -> Double {
        let a = Double(repeats + 1), total = Double(pairs + 2)
        var p = 1.0
        for i in 0..<max(0, j) {
            p *= (a + Double(i)) / (total + Double(i))
            if p < 1e-300 { return 0 }
        }
        return p
    }

    /// I_x(a, b) by its continued fraction (modified Lentz), on the side where it converges fast.
    static func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
        guard x > 0 else { return 0 }
        guard x < 1 else { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * betaFraction(a, b, x) / a
        }
        return 1 - exp(logFront) * betaFraction(b, a, 1 - x) / b
    }

    private static func betaFraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-12 { break }
        }
        return h
    }
}
