import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

/// The fallback detectors' tail probabilities: the t distribution against closed forms, and on
/// untrained assets of several noise shapes, a threshold's false alarms within its budget.
@Suite("Small-sample tails")
struct SmallSampleTests {
    @Test func testStudentTailsMatchClosedForms() {
        for t in [0.0, 0.5, 1, 3, 10, 100] {
            // One degree of freedom is Cauchy: P(|T| >= t) = 1 - 2 atan(t) / pi.
            let cauchy = 1 - 2 * atan(t) / .pi
            #expect(abs(SmallSample.tPrediction(t * (1.5).squareRoot(), mean: 0, sampleStd: 1, n: 2) - cauchy) < 1e-10)
            // Two: P(|T| >= t) = 1 - t / sqrt(2 + t^2).
            let two = 1 - t / (2 + t * t).squareRoot()
            #expect(abs(SmallSample.tPrediction(t * (4.0 / 3).squareRoot(), mean: 0, sampleStd: 1, n: 3) - two) < 1e-10)
        }
        // Many degrees of freedom: the normal tail (P(|Z| >= 3) = 0.0026998).
        #expect(abs(SmallSample.tPrediction(3, mean: 0, sampleStd: 1, n: 1_000_000) - 0.0026998) < 1e-6)
    }

    @Test func testTheRepeatRunIsTheBetaPosteriorMoment() {
        // No repeats in 98 pairs: E[r^j] = j! / (100 * 101 * ... * (99 + j)).
        #expect(abs(SmallSample.repeatRun(2, repeats: 0, pairs: 98) - 2.0 / (100 * 101)) < 1e-15)
        #expect(SmallSample.repeatRun(0, repeats: 0, pairs: 5) == 1)
    }

    /// What the honesty costs on an untrained asset: its window cannot show how heavy a tail is,
    /// so on a normal metric a spike needs about 10 standard deviations to reach 0.6 (one metric,
    /// 200 samples of history); 12 are flagged nearly always, 5 never.
    @Test func testAFarSpikeIsFlaggedAndAModerateOneIsNotOnAnUntrainedAsset() {
        let detector = AssetDetector(metrics: ["m"], window: FeatureWindow(metrics: ["m"], window: 0), forest: nil, threshold: 0.6)
        var rng = SplitMix64(seed: 9)
        var flagged: [Double: Int] = [:]
        for k in [5.0, 12] {
            for _ in 0..<200 {
                let past = (0..<200).map { _ in [Self.gaussian(&rng)] }
                if detector.score(history: past, samples: [[k]])[0].isAnomaly { flagged[k, default: 0] += 1 }
            }
        }
        print("untrained, normal metric: 5 sigma flagged \(flagged[5] ?? 0)/200, 12 sigma \(flagged[12] ?? 0)/200")
        #expect(flagged[5] == nil && (flagged[12] ?? 0) >= 190)
    }

    /// Noise shapes an untrained metric might have.
    static let shapes: [(String, @Sendable (inout SplitMix64) -> Double)] = [
        ("normal", { gaussian(&$0) }),
        ("laplace", { r in let u = r.nextUnit() - 0.5; return -(u < 0 ? -1.0 : 1.0) * log(max(1e-300, 1 - 2 * abs(u))) }),
        ("student-t3", { r in let c = (0..<3).reduce(0.0) { s, _ in let g = gaussian(&r); return s + g * g }; return gaussian(&r) / (c / 3).squareRoot() }),
        ("lognormal", { r in exp(gaussian(&r)) }),
        ("counts", { r in Double(r.next() % 20 == 0 ? 1 + r.next() % 3 : 0) }),
        ("counts-15%", { r in Double(r.next() % 100 < 15 ? 1 + r.next() % 4 : 0) }),
        ("uniform", { r in r.nextUnit() }),
    ]

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.nextUnit(), 1e-300), v = rng.nextUnit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// Per noise shape and history length, the share of ordinary samples scoring at least t stays
    /// within the budget t stands for (with room for the simulation's own noise: 1.5 times, plus
    /// three standard errors of the count).
    ///
    /// Minutes of CPU in a debug build, so it yields every few hundred trials: a test that keeps a
    /// thread of Swift's cooperative pool (two on a 2-core machine) for minutes stalls every other
    /// suite of the parallel pass meanwhile, and their deadlines (HTTP reads, store calls) expire.
    @Test(arguments: [3, 10, 20, 30, 100, 200])
    func testAThresholdKeepsItsBudgetOnUntrainedAssets(history: Int) async {
        let detector = AssetDetector(metrics: ["m"], window: FeatureWindow(metrics: ["m"], window: 0), forest: nil, threshold: 0.6)
        for (name, draw) in Self.shapes {
            var rng = SplitMix64(seed: 7)
            var exceed = [0.3: 0, 0.4: 0, 0.5: 0, 0.6: 0]
            var trials = 0
            var methods: [String: Int] = [:]
            for trial in 0..<(120_000 / history + 600) {
                if trial % 200 == 0 { await Task.yield() }
                let past = (0..<history).map { _ in [draw(&rng)] }
                let next = (0..<10).map { _ in [draw(&rng)] }
                for d in detector.score(history: past, samples: next) {
                    trials += 1
                    if d.score >= 0.6 { methods[d.method.rawValue, default: 0] += 1 }
                    for t in exceed.keys where d.score >= t { exceed[t]! += 1 }
                }
            }
            let line = exceed.keys.sorted().map { t in String(format: "%.1f: %.5f (budget %.5f)", t, Double(exceed[t]!) / Double(trials), CalibratedScore.tail(score: t)) }
            print("history \(history) \(name): \(line.joined(separator: ", ")) \(methods)")
            for (t, count) in exceed {
                let rate = Double(count) / Double(trials)
                let budget = CalibratedScore.tail(score: t)
                #expect(rate <= 1.5 * budget + 3 * (budget / Double(trials)).squareRoot(), "\(name), \(history) samples of history: \(rate) of ordinary samples reach \(t)")
            }
        }
    }
}
