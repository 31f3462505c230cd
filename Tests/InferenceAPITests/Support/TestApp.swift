import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Testing

/// Builds the same application the executable runs, on the committed fixtures.
enum TestApp {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A new empty folder under the temporary directory; the caller removes it.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("inference-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func configuration(_ change: (inout Configuration) -> Void = { _ in }) -> Configuration {
        var configuration = Configuration()
        configuration.mlrunsDirectory = repoRoot.appendingPathComponent("mlruns").path
        configuration.sqlitePath = ":memory:"
        configuration.port = 0
        configuration.logLevel = .warning
        change(&configuration)
        return configuration
    }

    /// A fixture vector: Python's readings and answers for one run.
    struct Vector: Decodable {
        let `case`: String
        let mlruns: String
        let run_id: String
        let run_name: String?
        let feature_names: [String]
        let readings: [[String: Double]]
        let probabilities: [Double]
        let predictions: [Int]
    }

    static func vectors() throws -> [Vector] {
        let directory = repoRoot.appendingPathComponent("fixtures/vectors")
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { try JSONDecoder().decode(Vector.self, from: Data(contentsOf: $0)) }
    }

    /// Vectors of the runs in the default store (`mlruns/`).
    static func defaultStoreVectors() throws -> [Vector] {
        try vectors().filter { $0.mlruns == "mlruns" }
    }

    /// The vector of the run the default store serves (the champion alias).
    static func servedVector() throws -> Vector {
        let store = try MLflowStore(root: repoRoot.appendingPathComponent("mlruns"))
        guard let reference = try ModelSelection.defaultReference(in: store, metric: "roc_auc") else {
            throw TestFailure("the default store names no model to serve")
        }
        let runId = try store.resolve(reference).run.id
        guard let vector = try defaultStoreVectors().first(where: { $0.run_id == runId }) else {
            throw TestFailure("no fixture vector for the served run \(runId)")
        }
        return vector
    }

    static func body(_ readings: [[String: Double]]) -> ByteBuffer {
        let data = try! JSONSerialization.data(withJSONObject: ["readings": readings])
        return ByteBuffer(bytes: data)
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    /// The throwaway PostgreSQL `make test` starts. PostgreSQL tests run whenever it is set and
    /// always in CI, where a missing URL fails them instead of skipping them.
    static let postgresURL = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"]
    static let postgresEnabled = postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil
    static let postgresSkipReason: Comment = "TEST_DATABASE_URL is not set: run `make test`, which starts a throwaway PostgreSQL"
}

/// The JSON error envelope every 4xx/5xx must use.
struct Envelope: Decodable {
    struct Body: Decodable {
        let code: String
        let message: String
        let details: [Detail]
        let request_id: String
    }
    struct Detail: Decodable, Equatable {
        let index: Int?
        let field: String?
        let problem: String
        let suggestion: String?
    }
    let error: Body

    static func decode(_ response: TestResponse) throws -> Envelope {
        try JSONDecoder().decode(Envelope.self, from: Data(buffer: response.body))
    }
}

/// `/predict` answers.
struct PredictAnswer: Decodable {
    struct Model: Decodable {
        let run_id: String
        let experiment: String
        let model_uri: String
        let model_format: String
        let loaded_at: String
    }
    struct Prediction: Decodable {
        let index: Int
        let module_id: String?
        /// Canary mode: the run that scored the reading.
        let run_id: String?
        let prediction: Int
        let label: String
        let hazard_probability: Double
    }
    struct Summary: Decodable {
        let count: Int
        let hazardous: Int
        let normal: Int
        /// Canary mode: readings per run.
        let runs: [String: Int]?
    }
    let model: Model
    let predictions: [Prediction]
    let summary: Summary

    static func decode(_ response: TestResponse) throws -> PredictAnswer {
        try JSONDecoder().decode(PredictAnswer.self, from: Data(buffer: response.body))
    }
}
