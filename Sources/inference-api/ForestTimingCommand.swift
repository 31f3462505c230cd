import AnomalyDetection
import ArgumentParser
import Foundation
import Storage

/// `inference-api forest-timing`: fit and score times of the Isolation Forest on a data set
/// (fixtures/anomaly/*.json), the Swift half of `make bench-forest`.
struct ForestTiming: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forest-timing", abstract: "Time Isolation Forest fit and score on a fixtures/anomaly data set.")

    @Argument(help: "A data set written by fixtures/make_anomaly_sets.py.")
    var dataset: String

    @Option(help: "Repetitions; the median is reported.")
    var repetitions: Int = 7

    func run() throws {
        struct DataSet: Decodable {
            let name: String
            let rows: [[Double]]
        }
        let set = try JSONDecoder().decode(DataSet.self, from: Data(contentsOf: URL(fileURLWithPath: dataset)))
        let flat = set.rows.flatMap { $0 }
        let width = set.rows.first?.count ?? 0
        var fits: [Double] = [], scores: [Double] = []
        for seed in 0..<max(1, repetitions) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let forest = try IsolationForest.fit(flat, rows: set.rows.count, featureCount: width, parameters: .init(seed: UInt64(seed)))
            let t1 = DispatchTime.now().uptimeNanoseconds
            let s = forest.anomalyScores(flat, rows: set.rows.count)
            let t2 = DispatchTime.now().uptimeNanoseconds
            precondition(s.count == set.rows.count)
            fits.append(Double(t1 - t0) / 1e6)
            scores.append(Double(t2 - t1) / 1e6)
        }
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        print(String(format: "swift %@ rows=%d features=%d fit_ms=%.2f score_ms=%.2f", set.name, set.rows.count, width, median(fits), median(scores)))
    }
}
