/// Precision, recall, accuracy and ROC AUC of probabilities against observed 0/1 outcomes.
struct ClassificationMetrics: Sendable, Encodable, Equatable {
    let count: Int
    let positives: Int
    let true_positives: Int
    let false_positives: Int
    let true_negatives: Int
    let false_negatives: Int
    /// nil when nothing was predicted positive.
    let precision: Double?
    /// nil when there are no positive outcomes.
    let recall: Double?
    let accuracy: Double?
    /// nil unless both outcomes occur.
    let roc_auc: Double?

    init(probabilities: [Double], outcomes: [Int], threshold: Double) {
        precondition(probabilities.count == outcomes.count)
        var tp = 0, fp = 0, tn = 0, fn = 0
        for (p, y) in zip(probabilities, outcomes) {
            switch (p >= threshold, y == 1) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        count = outcomes.count
        positives = tp + fn
        true_positives = tp
        false_positives = fp
        true_negatives = tn
        false_negatives = fn
        precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : nil
        recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : nil
        accuracy = count > 0 ? Double(tp + tn) / Double(count) : nil
        roc_auc = Self.rocAUC(probabilities, outcomes)
    }

    /// The Mann-Whitney form: the chance that a random positive scores above a random negative,
    /// ties counting half (average ranks), as scikit-learn's `roc_auc_score` computes it.
    static func rocAUC(_ scores: [Double], _ outcomes: [Int]) -> Double? {
        let positives = outcomes.filter { $0 == 1 }.count
        let negatives = outcomes.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count, scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for k in i...j where outcomes[order[k]] == 1 { rankSum += averageRank }
            i = j + 1
        }
        let p = Double(positives), n = Double(negatives)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }
}
