import Foundation

/// What an experiment counted on one replica: comparisons of the two runs on the same readings,
/// routing, the model step's calls, failures and latency by role, and both runs scored on the
/// same labelled readings. Every part is a sum or a histogram, so the replicas' counters add up
/// (`merge`) to the fleet's, and a replica writes its own as one JSON document (`FleetStore`).
struct ChallengerStats: Codable, Sendable, Equatable {
    /// One value per role.
    struct PerRole<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
        var champion: Value
        var challenger: Value

        subscript(role: ChallengerRole) -> Value {
            get { role == .champion ? champion : challenger }
            set {
                if role == .champion { champion = newValue } else { challenger = newValue }
            }
        }
    }

    /// Readings scored by both runs.
    var compared = 0
    /// Compared readings whose labels differ.
    var disagreements = 0
    var sumAbsDiff = 0.0
    var maxAbsDiff = 0.0
    /// `|champion - challenger|` of compared readings in decades: exactly 0, then up to 1e-7,
    /// 1e-6, ..., 1e-1, and 1 (`diffBounds`).
    var diffHistogram = [Int](repeating: 0, count: ChallengerStats.diffBounds.count + 1)
    /// Canary: readings answered by each run.
    var routed = PerRole(champion: 0, challenger: 0)
    /// Model-step calls, failed ones, and their latency.
    var calls = PerRole(champion: 0, challenger: 0)
    var errors = PerRole(champion: 0, challenger: 0)
    var latency = PerRole(champion: LatencyHistogram(), challenger: LatencyHistogram())
    /// Shadow readings dropped because the queue was full.
    var shadowDropped = 0
    var feedback = PerRole(champion: FeedbackTally(), challenger: FeedbackTally())

    static let diffBounds: [Double] = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1]

    mutating func compare(champion: [Float], challenger: [Float], threshold: Double) {
        for (a, b) in zip(champion, challenger) {
            compared += 1
            if (Double(a) >= threshold) != (Double(b) >= threshold) { disagreements += 1 }
            let diff = abs(Double(a) - Double(b))
            sumAbsDiff += diff
            maxAbsDiff = max(maxAbsDiff, diff)
            diffHistogram[diff == 0 ? 0 : 1 + (Self.diffBounds.firstIndex { diff <= $0 } ?? Self.diffBounds.count - 1)] += 1
        }
    }

    mutating func merge(_ other: ChallengerStats) {
        compared += other.compared
        disagreements += other.disagreements
        sumAbsDiff += other.sumAbsDiff
        maxAbsDiff = max(maxAbsDiff, other.maxAbsDiff)
        for index in diffHistogram.indices where index < other.diffHistogram.count { diffHistogram[index] += other.diffHistogram[index] }
        for role in ChallengerRole.allCases {
            routed[role] += other.routed[role]
            calls[role] += other.calls[role]
            errors[role] += other.errors[role]
            latency[role].merge(other.latency[role])
            feedback[role].merge(other.feedback[role])
        }
        shadowDropped += other.shadowDropped
    }
}

enum ChallengerRole: String, CaseIterable, Sendable {
    case champion
    case challenger
}

/// Durations in a log histogram: four buckets per doubling from 1/4 µs, so a percentile is known
/// to within 19 % (its bucket's upper bound is reported), and replicas' histograms add up.
struct LatencyHistogram: Codable, Sendable, Equatable {
    /// Bucket `i` holds durations up to `0.25 µs × 2^(i/4)`; the last one everything longer.
    var counts = [Int](repeating: 0, count: LatencyHistogram.buckets)
    var count = 0

    static let buckets = 128

    static func upperBoundMicroseconds(_ bucket: Int) -> Double { 0.25 * exp2(Double(bucket) / 4) }

    mutating func record(nanoseconds: Int64) {
        let micros = max(Double(nanoseconds) / 1000, 0.25)
        let bucket = min(Self.buckets - 1, Int((4 * log2(micros / 0.25)).rounded(.up)))
        counts[max(0, bucket)] += 1
        count += 1
    }

    /// The upper bound of the bucket holding quantile `q` (0-1), in microseconds; nil when empty.
    func quantileMicroseconds(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (bucket, n) in counts.enumerated() {
            seen += n
            if seen >= rank { return Self.upperBoundMicroseconds(bucket) }
        }
        return Self.upperBoundMicroseconds(Self.buckets - 1)
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices where index < other.counts.count { counts[index] += other.counts[index] }
        count += other.count
    }
}

/// One run scored on labelled readings: the confusion counts at the threshold (exact), and the
/// probabilities by outcome rounded to 1e-4 (`bins`), from which the ROC AUC is computed with ties
/// counting half. Sparse, so it stays small and adds up across replicas.
struct FeedbackTally: Codable, Sendable, Equatable {
    var truePositives = 0
    var falsePositives = 0
    var trueNegatives = 0
    var falseNegatives = 0
    /// Bin (probability × `bins`, rounded) → readings, per outcome.
    var positives: [Int: Int] = [:]
    var negatives: [Int: Int] = [:]

    static let bins = 10_000

    var count: Int { truePositives + falsePositives + trueNegatives + falseNegatives }

    mutating func add(probability: Float, outcome: Int, threshold: Double) {
        let predicted = Double(probability) >= threshold
        let bin = Int((Double(probability) * Double(Self.bins)).rounded())
        if outcome == 1 {
            if predicted { truePositives += 1 } else { falseNegatives += 1 }
            positives[bin, default: 0] += 1
        } else {
            if predicted { falsePositives += 1 } else { trueNegatives += 1 }
            negatives[bin, default: 0] += 1
        }
    }

    var precision: Double? { truePositives + falsePositives > 0 ? Double(truePositives) / Double(truePositives + falsePositives) : nil }
    var recall: Double? { truePositives + falseNegatives > 0 ? Double(truePositives) / Double(truePositives + falseNegatives) : nil }

    /// The chance a positive scores above a negative, ties (same bin) counting half.
    var auc: Double? {
        let p = positives.values.reduce(0, +), n = negatives.values.reduce(0, +)
        guard p > 0, n > 0 else { return nil }
        var below = 0.0, wins = 0.0
        for bin in Set(positives.keys).union(negatives.keys).sorted() {
            let pos = Double(positives[bin] ?? 0), neg = Double(negatives[bin] ?? 0)
            wins += pos * (below + neg / 2)
            below += neg
        }
        return wins / (Double(p) * Double(n))
    }

    mutating func merge(_ other: FeedbackTally) {
        truePositives += other.truePositives
        falsePositives += other.falsePositives
        trueNegatives += other.trueNegatives
        falseNegatives += other.falseNegatives
        positives.merge(other.positives, uniquingKeysWith: +)
        negatives.merge(other.negatives, uniquingKeysWith: +)
    }
}
