/// The rules that stop an experiment by themselves (`CHALLENGER_*`), checked on the fleet's
/// counters: over at least `minCalls` model-step calls of the challenger, its error rate above
/// `maxErrorRate` or its model-step p99 above `maxLatencyRatio` times the champion's; over at
/// least `minLabels` labelled readings, its recall more than `maxRecallDrop` below the champion's.
enum ChallengerGuard {
    struct Rules: Sendable {
        var minCalls = 200
        var minLabels = 100
        var maxErrorRate = 0.01
        var maxLatencyRatio = 3.0
        var maxRecallDrop = 0.05
    }

    /// Why the experiment must stop; nil while every rule holds.
    static func failure(_ stats: ChallengerStats, rules: Rules) -> String? {
        let calls = stats.calls.challenger
        if calls >= rules.minCalls {
            let rate = Double(stats.errors.challenger) / Double(calls)
            if rate > rules.maxErrorRate {
                return "error rate \(percent(rate)) over \(calls) challenger calls passes \(percent(rules.maxErrorRate))"
            }
            if stats.latency.challenger.count >= rules.minCalls, stats.latency.champion.count >= rules.minCalls,
                let challenger = stats.latency.challenger.quantileMicroseconds(0.99),
                let champion = stats.latency.champion.quantileMicroseconds(0.99), challenger > rules.maxLatencyRatio * champion
            {
                return "model-step p99 \(micros(challenger)) passes \(rules.maxLatencyRatio.formatted2) × the champion's \(micros(champion))"
            }
        }
        let labelled = stats.feedback.challenger.count
        if labelled >= rules.minLabels, let challenger = stats.feedback.challenger.recall, let champion = stats.feedback.champion.recall,
            challenger < champion - rules.maxRecallDrop
        {
            return "recall \(challenger.formatted3) on \(labelled) labelled readings is more than \(rules.maxRecallDrop.formatted2) below the champion's \(champion.formatted3)"
        }
        return nil
    }

    private static func percent(_ value: Double) -> String { "\((value * 100).formatted2) %" }
    private static func micros(_ value: Double) -> String { "\(value.formatted2) µs" }
}

extension Double {
    fileprivate var formatted2: String { (self * 100).rounded() / 100 == rounded() ? String(Int(self)) : String((self * 100).rounded() / 100) }
    fileprivate var formatted3: String { String((self * 1000).rounded() / 1000) }
}
