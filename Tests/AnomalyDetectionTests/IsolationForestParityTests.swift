import Foundation
import Testing

@testable import AnomalyDetection

/// The Swift forest's ROC AUC is within 0.01 of scikit-learn's IsolationForest on the same data
/// and parameters (mean over 10 seeds), on data sets made by fixtures/make_anomaly_sets.py.
@Suite("Isolation Forest parity with scikit-learn")
struct IsolationForestParityTests {
    struct DataSet: Decodable {
        struct SKLearn: Decodable {
            let roc_auc_mean: Double
            let seeds: [Int]
        }
        let name: String
        let feature_names: [String]
        let rows: [[Double]]
        let labels: [Int]
        let kinds: [String]?
        let sklearn: SKLearn
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/anomaly")

    static func load(_ name: String) throws -> DataSet {
        try JSONDecoder().decode(DataSet.self, from: Data(contentsOf: directory.appendingPathComponent("\(name).json")))
    }

    /// Rank-based ROC AUC (ties count half).
    static func auc(_ scores: [Double], _ labels: [Int]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count, scores[order[j + 1]] == scores[order[i]] { j += 1 }
            for k in i...j { ranks[order[k]] = Double(i + j) / 2 + 1 }
            i = j + 1
        }
        let positives = labels.filter { $0 == 1 }.count
        let negatives = labels.count - positives
        let rankSum = zip(ranks, labels).filter { $0.1 == 1 }.reduce(0) { $0 + $1.0 }
        return (rankSum - Double(positives * (positives + 1)) / 2) / Double(positives * negatives)
    }

    @Test(arguments: ["breast_cancer", "ems_series"])
    func testRocAucWithinOneHundredthOfScikitLearn(name: String) throws {
        let set = try Self.load(name)
        let flat = set.rows.flatMap { $0 }
        var aucs: [Double] = []
        for seed in set.sklearn.seeds {
            let forest = try IsolationForest.fit(
                flat, rows: set.rows.count, featureCount: set.feature_names.count, parameters: .init(seed: UInt64(seed)))
            aucs.append(Self.auc(forest.anomalyScores(flat, rows: set.rows.count), set.labels))
        }
        let mean = aucs.reduce(0, +) / Double(aucs.count)
        print("\(name): Swift ROC AUC \(mean) vs scikit-learn \(set.sklearn.roc_auc_mean) (mean of \(aucs.count) seeds)")
        #expect(abs(mean - set.sklearn.roc_auc_mean) <= 0.01)
    }
}
