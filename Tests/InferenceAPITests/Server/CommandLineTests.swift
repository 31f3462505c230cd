import Foundation
import Testing

/// `inference-api predict` reads every model source the server reads, says its verdict first and
/// names things as the API does.
@Suite("Command line")
struct CommandLineTests {
    static let backendVectors = TestApp.repoRoot.appendingPathComponent("fixtures/backend-vectors")

    static func sqliteVectors() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: backendVectors, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.contains("sqlite") && $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }

    @Test func testPredictChecksTheBackendStoreVectorsVerdictFirst() throws {
        let vectors = try Self.sqliteVectors()
        try #require(!vectors.isEmpty)
        for vector in vectors {
            let outcome = try CommandRun(["predict", vector.path, "--check"])
            let first = outcome.stdout.split(separator: "\n").first.map(String.init) ?? ""
            print("predict --check \(vector.lastPathComponent): \(first)")
            #expect(outcome.status == 0, "\(vector.lastPathComponent): \(outcome.stderr.suffix(800))")
            #expect(first.hasPrefix("ok: max |swift - python|") && first.contains("sqlite"), "\(first)")
            #expect(outcome.stdout.split(separator: "\n").count == 1, "the answers only with --verbose")
        }
    }

    @Test func testPredictReadsATrackingURIGivenOnTheCommandLineOrInTheEnvironment() throws {
        let vector = try #require(try Self.sqliteVectors().first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: vector)) as? [String: Any])
        let relative = try #require((object["tracking_uri"] as? String)?.dropFirst("sqlite:///".count))
        let uri = "sqlite:///" + TestApp.repoRoot.appendingPathComponent(String(relative)).path
        let runId = try #require(object["run_id"] as? String)
        let expected = try #require(object["probabilities"] as? [Double])
        // A plain /predict body: nothing in it says where the model is.
        let body = FileManager.default.temporaryDirectory.appendingPathComponent("body-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: ["readings": try #require(object["readings"] as? [Any])]).write(to: body)
        defer { try? FileManager.default.removeItem(at: body) }
        for (arguments, environment) in [
            (["predict", body.path, "--tracking-uri", uri, "--model", runId], [String: String]()),
            (["predict", body.path, "--model", runId], ["MLFLOW_TRACKING_URI": uri]),
        ] {
            let outcome = try CommandRun(arguments, environment: environment)
            #expect(outcome.status == 0, "\(outcome.stderr.suffix(800))")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            let probabilities = try #require(answer["probabilities"] as? [Double])
            let worst = zip(probabilities, expected).map { abs($0 - $1) }.max() ?? 1
            #expect(probabilities.count == expected.count && worst <= 1e-6, "max |swift - python| = \(worst)")
            #expect(answer["run_id"] as? String == runId)
        }
    }

    @Test func testPredictWithoutAStoreNamesWhereToSayIt() throws {
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("nowhere-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let body = elsewhere.appendingPathComponent("body.json")
        try Data(#"{"readings": [{"a": 1}]}"#.utf8).write(to: body)
        let outcome = try CommandRun(["predict", body.path], environment: ["MLRUNS_DIR": ""], directory: elsewhere)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("MLRUNS_DIR") && outcome.stderr.contains("--mlruns") && outcome.stderr.contains("MLFLOW_TRACKING_URI"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("Usage:"), "a missing store is not a usage error: \(outcome.stderr)")

        // A file that is not there: one line naming it, not the root command's usage.
        let missing = try CommandRun(["predict", elsewhere.appendingPathComponent("missing.json").path], directory: elsewhere)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read") && !missing.stderr.contains("Usage:"), "\(missing.stderr)")
    }

    @Test func testExplainUsesTheAPIsNames() throws {
        let vector = TestApp.repoRoot.appendingPathComponent("fixtures/vectors/mlflow3_xgb3_ubj_standard__champion.json")
        let outcome = try CommandRun(["predict", vector.path, "--explain", "--top", "3"])
        #expect(outcome.status == 0, "\(outcome.stderr.suffix(800))")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let first = try #require((answer["explanations"] as? [[String: Any]])?.first)
        let contributions = try #require(first["contributions"] as? [[String: Any]])
        #expect(contributions.count == 3 && contributions.allSatisfy { $0["feature"] is String && $0["value"] is Double })
        #expect(first["top"] == nil)
    }
}
