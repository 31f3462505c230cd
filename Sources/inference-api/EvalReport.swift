import Foundation

/// The numbers `eval-anomaly` reports for one detector over the labelled test series, computed
/// the same way for every detector compared.
struct EvalReport {
    struct Row {
        let recall: Double
        /// Median samples from an event's onset to its first flag, over the events flagged at all.
        let medianDelay: Double?
        let eventsFlagged: Int
        let events: Int
        let auc: Double
    }

    /// One asset's test series scored by one detector.
    struct Scored {
        let series: EvalSeries
        let scores: [Double]
        let flags: [Bool]
    }

    let rows: [String: Row]
    let falsePositiveRate: Double

    /// `kind` "" is every anomaly kind together; `metric` narrows events (and samples) to one metric.
    init(_ assets: [Scored], kinds: [String], metrics: [String]) {
        var normalScores: [Double] = []
        var normalFlagged = 0
        for a in assets {
            for i in a.series.kinds.indices where a.series.kinds[i].isEmpty {
                normalScores.append(a.scores[i])
                if a.flags[i] { normalFlagged += 1 }
            }
        }
        falsePositiveRate = Double(normalFlagged) / Double(max(1, normalScores.count))
        var rows: [String: Row] = [:]
        for kind in kinds {
            for metric in [nil] + metrics.indices.map(Optional.some) {
                var positives: [Double] = [], hits = 0, delays: [Int] = [], events = 0
                for a in assets {
                    for e in a.series.events where (kind.isEmpty || e.kind == kind) && (metric == nil || e.metric == metric) {
                        events += 1
                        let range = e.start..<(e.start + e.length)
                        positives += range.map { a.scores[$0] }
                        hits += range.filter { a.flags[$0] }.count
                        if let first = range.first(where: { a.flags[$0] }) { delays.append(first - e.start) }
                    }
                }
                guard events > 0 else { continue }
                let key = (kind.isEmpty ? "all" : kind) + (metric.map { "/" + metrics[$0] } ?? "")
                rows[key] = Row(
                    recall: Double(hits) / Double(max(1, positives.count)), medianDelay: Self.median(delays), eventsFlagged: delays.count,
                    events: events, auc: Self.auc(positives: positives, negatives: normalScores))
            }
        }
        self.rows = rows
    }

    static func median(_ values: [Int]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? Double(sorted[sorted.count / 2]) : Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// ROC AUC as the Mann-Whitney statistic, ties counted half.
    static func auc(positives: [Double], negatives: [Double]) -> Double {
        guard !positives.isEmpty, !negatives.isEmpty else { return .nan }
        let all = (positives.map { ($0, true) } + negatives.map { ($0, false) }).sorted { $0.0 < $1.0 }
        var rankSum = 0.0
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count, all[j + 1].0 == all[i].0 { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j where all[k].1 { rankSum += rank }
            i = j + 1
        }
        let p = Double(positives.count), n = Double(negatives.count)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }
}
