import Artifacts
import Foundation
import Testing

@testable import ModelSources

/// MLflow's PostgreSQL backend store, schema and rows written by MLflow 3.17.2 itself into the
/// throwaway cluster of `scripts/with-postgres.sh` (`scripts/with-mlflow.sh` does it).
@Suite(
    "Backend database source (PostgreSQL)",
    .enabled(if: ProcessInfo.processInfo.environment["TEST_MLFLOW_PG_URL"] != nil, "needs TEST_MLFLOW_PG_URL: run under with-postgres.sh and with-mlflow.sh (make test does)"),
    .timeLimit(.minutes(5)))
struct PostgresBackendSourceTests {
    static let environment = ProcessInfo.processInfo.environment

    static func open() async throws -> any ModelSource {
        var settings = ModelSources.Settings()
        settings.trackingURI = environment["TEST_MLFLOW_PG_URL"]
        settings.artifactRoot = environment["TEST_MLFLOW_PG_ARTIFACTS"]
        return try await ModelSources.open(settings, logger: Fixtures.logger)
    }

    @Test func testEveryReferenceFormGivesPythonsProbabilities() async throws {
        let vectors = try Fixtures.vectors(in: URL(fileURLWithPath: Self.environment["TEST_MLFLOW_PG_VECTORS"] ?? "/nonexistent"))
        #expect(vectors.map(\.role).sorted() == ["baseline", "champion"])
        let source = try await Self.open()
        var checked = 0
        for vector in vectors {
            for reference in Fixtures.references(for: vector) {
                let largest = try await Fixtures.expectParity(source, reference, vector)
                print("parity postgresql \(reference): max |swift - python| = \(largest)")
                checked += 1
            }
        }
        #expect(checked == 9)
        let page = try await source.runs(page: PageRequest(maxResults: 1))
        #expect(page.items.count == 1 && page.nextToken != nil)
        let models = try await source.registeredModels(page: PageRequest())
        #expect(models.items.first { $0.name == "battery-hazard" }?.aliases == ["champion": 2])
        await source.close()
    }

    /// An experiment made with its own `artifact_location`: MLflow keeps its runs at
    /// `<location>/<run>/artifacts` and its logged models at `<location>/models/<id>/artifacts`,
    /// with no experiment-id folder. The location has moved since (every recorded path is stale):
    /// both layouts are found by rebasing on the experiment's recorded location.
    @Test func testAnExperimentsOwnArtifactLocationIsRebasedOn() async throws {
        let vectors = try Fixtures.vectors(in: URL(fileURLWithPath: Self.environment["TEST_MLFLOW_PG_OWN_VECTORS"] ?? "/nonexistent"))
        let vector = try #require(vectors.first)
        var settings = ModelSources.Settings()
        settings.trackingURI = Self.environment["TEST_MLFLOW_PG_URL"]
        settings.artifactRoot = Self.environment["TEST_MLFLOW_PG_OWN_ARTIFACTS"]
        let source = try await ModelSources.open(settings, logger: Fixtures.logger)
        defer { Task { await source.close() } }
        try await Fixtures.expectOwnLocationLayout(source, vector, root: try #require(settings.artifactRoot), label: "postgresql")
    }

    /// Every query runs in a READ ONLY transaction: PostgreSQL itself refuses a write.
    @Test func testTheServerRefusesWrites() async throws {
        let url = try #require(URL(string: Self.environment["TEST_MLFLOW_PG_URL"] ?? ""))
        let reader = try PostgresReader.open(url: url, logger: Fixtures.logger)
        #expect(try await reader.tableNames().isSuperset(of: ["runs", "experiments", "logged_models", "registered_model_aliases"]))
        do {
            _ = try await reader.rows("UPDATE experiments SET name = name || '-x'", [])
            Issue.record("an UPDATE went through")
        } catch {
            #expect(String(reflecting: error).contains("read-only") || String(reflecting: error).contains("25006"), "\(String(reflecting: error))")
        }
        let names = try await reader.rows("SELECT name FROM experiments ORDER BY experiment_id", []).compactMap { $0.first?.string }
        #expect(names.contains("battery-hazard"))
        await reader.close()
    }
}
