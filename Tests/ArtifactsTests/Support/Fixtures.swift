import Foundation

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
