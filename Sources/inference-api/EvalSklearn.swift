import Foundation

/// scikit-learn's IsolationForest on `eval-anomaly`'s data, through bench/eval_anomaly_sklearn.py
/// and the pinned virtualenv: defaults (100 trees, contamination "auto"), fitted on each
/// asset's raw training metrics, scored on its test series; flagged where `predict` says -1.
enum SklearnBaseline {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func run(python: String, train: [EvalSeries], test: [EvalSeries]) throws -> [EvalReport.Scored] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eval-anomaly-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("data.json"), output = directory.appendingPathComponent("scores.json")
        let assets = zip(train, test).map { ["train": $0.rows, "test": $1.rows] }
        try JSONSerialization.data(withJSONObject: ["assets": assets]).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["bench/eval_anomaly_sklearn.py", input.path, output.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(description: "\(python) bench/eval_anomaly_sklearn.py exited with \(process.terminationStatus)") }
        struct Answer: Decodable {
            struct Asset: Decodable {
                let scores: [Double]
                let flags: [Bool]
            }
            let assets: [Asset]
        }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(contentsOf: output))
        guard answer.assets.count == test.count else { throw Failure(description: "scikit-learn answered for \(answer.assets.count) assets, not \(test.count)") }
        return zip(test, answer.assets).map { EvalReport.Scored(series: $0, scores: $1.scores, flags: $1.flags) }
    }
}
