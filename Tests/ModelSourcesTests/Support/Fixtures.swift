import Artifacts
import Foundation
import Logging
import Testing

@testable import ModelSources

/// The committed fixtures and Python's answers for them, found from this file's location.
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// MLflow 3.17.2's SQLite backend (`mlflow.db`) and its artifact root (`mlartifacts/`).
    static let sqliteStore = repoRoot.appendingPathComponent("fixtures/stores/mlflow3_sqlite_ubj_standard")

    /// A vector written by `fixtures/make_mlruns.py`: one run's readings and Python's answers.
    struct Vector: Decodable, Sendable {
        struct Registered: Decodable, Sendable {
            let name: String
            let version: Int
            let aliases: [String]
        }
        let `case`: String
        /// `sqlite:///<path relative to the repository>/mlflow.db` for the committed stores.
        let tracking_uri: String?
        let run_id: String
        let run_name: String?
        let role: String
        let model_id: String?
        let registered_model: Registered?
        let feature_names: [String]
        let readings: [[String: Double]]
        let probabilities: [Double]
        let predictions: [Int]
    }

    static func vectors(in directory: URL) throws -> [Vector] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { try JSONDecoder().decode(Vector.self, from: Data(contentsOf: $0)) }
    }

    /// The vectors of every committed backend store (MLflow 2.22 and 3.17, SQLite).
    static func sqliteVectors() throws -> [Vector] {
        try vectors(in: repoRoot.appendingPathComponent("fixtures/backend-vectors"))
    }

    /// The MLflow 3.17.2 store's vectors (`sqliteStore`): a baseline and a champion.
    static func mlflow3Vectors() throws -> [Vector] {
        try sqliteVectors().filter { $0.case == "mlflow3_sqlite_ubj_standard" }
    }

    /// The source a committed vector's store is read through (its own `tracking_uri`).
    static func source(for vector: Vector) async throws -> any ModelSource {
        guard let uri = vector.tracking_uri, uri.hasPrefix("sqlite:///") else { throw MissingStore(vector: vector.case) }
        var settings = ModelSources.Settings()
        settings.trackingURI = "sqlite:///" + repoRoot.appendingPathComponent(String(uri.dropFirst("sqlite:///".count))).path
        // Generous, as in BackendStoreSourceTests: these tests are about what is read, and in the
        // loaded parallel pass one read of a fixture database waited past the default 30 s.
        settings.requestTimeoutSeconds = 120
        return try await ModelSources.open(settings, logger: logger)
    }

    struct MissingStore: Error {
        let vector: String
    }

    /// Every reference form that names the vector's model.
    static func references(for vector: Vector) -> [String] {
        var out = [vector.run_id, "runs:/\(vector.run_id)"]
        if let id = vector.model_id { out.append("models:/\(id)") }
        if let registered = vector.registered_model {
            out.append("models:/\(registered.name)/\(registered.version)")
            out += registered.aliases.map { "models:/\(registered.name)@\($0)" }
        }
        return out
    }

    /// Loads `reference` from `source` and compares with Python: probabilities within 1e-6,
    /// labels identical. Returns the largest difference.
    @discardableResult
    static func expectParity(_ source: any ModelSource, _ reference: String, _ vector: Vector) async throws -> Double {
        let location = try await source.resolve(reference)
        #expect(location.run.id == vector.run_id, "\(reference) resolved to run \(location.run.id)")
        let model = try HazardModel(location: location)
        #expect(model.featureNames == vector.feature_names)
        let predictions = try model.predict(readings: vector.readings)
        #expect(predictions.count == vector.probabilities.count)
        var largest = 0.0
        for (i, (prediction, expected)) in zip(predictions, vector.probabilities).enumerated() {
            let difference = abs(Double(prediction.probability) - expected)
            largest = max(largest, difference)
            #expect(difference <= 1e-6, "\(reference) reading \(i): \(prediction.probability) vs Python \(expected)")
            #expect(prediction.label == vector.predictions[i], "\(reference) reading \(i) label")
        }
        return largest
    }

    /// A store from an experiment made with its own `artifact_location`, its recorded paths stale:
    /// every reference form gives Python's answers, the recorded run location no longer exists,
    /// and the files are read from both layouts under `root` (`<run>/artifacts` for the scaler,
    /// `models/<id>/artifacts` for the logged model).
    static func expectOwnLocationLayout(_ source: any ModelSource, _ vector: Vector, root: String, label: String) async throws {
        let references = references(for: vector)
        #expect(references.contains { $0.hasPrefix("models:/m-") })
        for reference in references {
            let largest = try await expectParity(source, reference, vector)
            print("parity \(label) own artifact_location \(reference): max |swift - python| = \(largest)")
        }
        let location = try await source.resolve("runs:/\(vector.run_id)")
        let recorded = try #require(location.run.recordedArtifactURI)
        #expect(!FileManager.default.fileExists(atPath: URL(string: recorded)?.path ?? recorded), "recorded \(recorded) still exists")
        let real = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        #expect(location.modelDirectory.path == "\(real)/models/\(try #require(vector.model_id))/artifacts")
        #expect(location.scalerFile?.path == "\(real)/\(vector.run_id)/artifacts/scaler.joblib")
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("model-sources-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let logger = Logger(label: "model-sources-tests")
}
