import Foundation

@testable import Artifacts

/// Paths of the committed fixtures (`mlruns/`, `fixtures/`), found from this file's location so
/// tests never depend on the working directory or a developer's home.
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // ArtifactsTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static let defaultStore = repoRoot.appendingPathComponent("mlruns")
    static let vectors = repoRoot.appendingPathComponent("fixtures/vectors")

    static func url(_ relative: String) -> URL { repoRoot.appendingPathComponent(relative) }

    /// A test vector file written by `fixtures/make_mlruns.py`.
    struct Vector: Decodable {
        let `case`: String
        let mlruns: String
        let run_id: String
        let run_name: String?
        let model_format: String?
        let scaler: String?
        let feature_names: [String]
        let readings: [[String: Double]]
        let probabilities: [Double]
        let predictions: [Int]
        let base_score: String?
    }

    static func vectorFiles() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: vectors, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func vector(_ url: URL) throws -> Vector {
        try JSONDecoder().decode(Vector.self, from: Data(contentsOf: url))
    }

    /// A new empty folder under the temporary directory; the caller removes it.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("artifacts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension Fixtures {
    /// Every fixture vector's model, loaded, with its readings scaled as the model scales them.
    struct LoadedVector {
        let vector: Vector
        let location: ModelLocation
        let model: HazardModel
        /// The vector's readings through the model's scaler, row-major.
        let scaled: [Float]
    }

    /// Loaded once per predictor choice and shared by the tests (a load verifies the forest).
    static func loadedVectors(predictor: PredictorChoice = .auto) throws -> [LoadedVector] {
        try (predictor == .cAPI ? loadedWithCAPI : loadedAuto).get()
    }

    private static let loadedAuto = Result { try load(predictor: .auto) }
    private static let loadedWithCAPI = Result { try load(predictor: .cAPI) }

    private static func load(predictor: PredictorChoice) throws -> [LoadedVector] {
        try vectorFiles().map { file in
            let vector = try Fixtures.vector(file)
            let location = try MLflowStore(root: Fixtures.url(vector.mlruns)).resolve(vector.run_id)
            let model = try HazardModel(location: location, predictor: predictor)
            var raw: [Double] = []
            for reading in vector.readings { raw += model.featureNames.map { reading[$0]! } }
            var scaled = [Float](repeating: 0, count: raw.count)
            raw.withUnsafeBufferPointer { input in
                scaled.withUnsafeMutableBufferPointer { model.scaler.transform(rows: input, count: vector.readings.count, into: $0) }
            }
            return LoadedVector(vector: vector, location: location, model: model, scaled: scaled)
        }
    }
}
