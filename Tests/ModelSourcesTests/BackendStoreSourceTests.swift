import Artifacts
import Crypto
import Foundation
import Testing

@testable import ModelSources

/// MLflow 3.17.2's SQLite backend store, committed with its artifact root: the same answers as
/// Python for every reference form, listings, stale artifact locations, and never a write.
@Suite("Backend database source (SQLite)")
struct BackendStoreSourceTests {
    static func open(artifactRoot: String? = nil) async throws -> any ModelSource {
        var settings = ModelSources.Settings()
        settings.trackingURI = "sqlite:///" + Fixtures.sqliteStore.appendingPathComponent("mlflow.db").path
        settings.artifactRoot = artifactRoot
        // Generous: this suite is about what is read, and at the start of the loaded parallel pass
        // one query once waited past the default 30 s behind the other suites' model-source reads.
        settings.requestTimeoutSeconds = 120
        return try await ModelSources.open(settings, logger: Fixtures.logger)
    }

    @Test func testEveryReferenceFormGivesPythonsProbabilities() async throws {
        let vectors = try Fixtures.sqliteVectors()
        #expect(Set(vectors.map(\.case)) == ["mlflow2_sqlite_json_minmax", "mlflow3_sqlite_ubj_standard", "mlflow3_sqlite_own_location"])
        var checked = 0
        for vector in vectors {
            let source = try await Fixtures.source(for: vector)
            for reference in Fixtures.references(for: vector) {
                let largest = try await Fixtures.expectParity(source, reference, vector)
                print("parity sqlite \(vector.case) \(reference): max |swift - python| = \(largest)")
                checked += 1
            }
            await source.close()
        }
        // MLflow 3: run id, runs:/, models:/m-, models:/name/version for both runs, and the
        // champion's alias; MLflow 2 (no logged models): run id, runs:/, version, alias; MLflow 3
        // with the experiment's own artifact location: the champion's five.
        #expect(checked == 9 + 4 + 5)
    }

    /// MLflow 2.22's schema has no `logged_models` table: the model is a run artifact, the
    /// version's source a (stale) path to it, and a logged-model reference names nothing.
    @Test func testAnMLflow2DatabaseIsReadWithoutLoggedModels() async throws {
        let vector = try #require(try Fixtures.sqliteVectors().first { $0.case == "mlflow2_sqlite_json_minmax" })
        let source = try await Fixtures.source(for: vector)
        defer { Task { await source.close() } }
        let models = try await source.registeredModels(page: PageRequest())
        let version = try #require(models.items.first?.versions.first)
        #expect(version.source?.hasSuffix("/\(vector.run_id)/artifacts/model") == true && version.modelId == nil)
        let location = try await source.resolve("models:/battery-hazard@champion")
        #expect(location.loggedModelId == nil && location.modelDirectory.lastPathComponent == "model")
        #expect(location.mlmodel.mlflowVersion == "2.22.5")
        do {
            _ = try await source.resolve("models:/m-0123456789abcdef")
            Issue.record("a logged model resolved in an MLflow 2 store")
        } catch let error as ArtifactError {
            #expect(error.kind == .notFound)
        }
    }

    @Test func testTheAliasAndVersionCarryRegistryCoordinates() async throws {
        let source = try await Self.open()
        defer { Task { await source.close() } }
        let champion = try #require(try Fixtures.mlflow3Vectors().first { $0.role == "champion" })
        let location = try await source.resolve("models:/battery-hazard@champion")
        #expect(location.registry == .init(name: "battery-hazard", version: 2, alias: "champion"))
        #expect(location.loggedModelId == champion.model_id)
        #expect(try await source.aliasVersion(model: "battery-hazard", alias: "champion") == 2)
        await #expect(throws: ArtifactError.self) { try await source.aliasVersion(model: "battery-hazard", alias: "nope") }
    }

    @Test func testListingsArePagedAndComplete() async throws {
        let source = try await Self.open()
        defer { Task { await source.close() } }
        let experiments = try await source.experiments()
        #expect(experiments.map(\.name).contains("battery-hazard"))
        let first = try await source.runs(page: PageRequest(maxResults: 1))
        #expect(first.items.count == 1)
        let token = try #require(first.nextToken)
        let second = try await source.runs(page: PageRequest(maxResults: 1, token: token))
        #expect(second.items.count == 1 && second.nextToken == nil)
        let names = Set((first.items + second.items).compactMap(\.name))
        #expect(names == ["xgb-20x2-baseline", "xgb-200x6-champion"])
        let champion = try #require((first.items + second.items).first { $0.name == "xgb-200x6-champion" })
        #expect(champion.status == "FINISHED")
        #expect(champion.params["n_estimators"] == "200")
        #expect((champion.metrics["roc_auc"]?.value ?? 0) > 0.98)
        #expect(champion.tags["role"] == "champion")
        let models = try await source.registeredModels(page: PageRequest())
        #expect(models.items.map(\.name) == ["battery-hazard"])
        #expect(models.items.first?.versions.map(\.version) == [1, 2])
        #expect(models.items.first?.aliases == ["champion": 2])
        #expect(await source.servability(of: champion)?.servable == true)
    }

    /// The database records where the training machine put the artifacts (a folder under /tmp that
    /// is gone); the reader finds them under the artifact root, wherever that has been moved to.
    @Test func testStaleArtifactLocationsAreFoundUnderTheArtifactRoot() async throws {
        let source = try await Self.open()
        let champion = try #require(try Fixtures.mlflow3Vectors().first { $0.role == "champion" })
        let location = try await source.resolve(champion.run_id)
        await source.close()
        let recorded = try #require(location.run.recordedArtifactURI)
        #expect(recorded.hasPrefix("/tmp/mlflow-train-"), "recorded \(recorded)")
        #expect(!FileManager.default.fileExists(atPath: recorded))
        #expect(location.boosterFile.path.hasPrefix(Fixtures.sqliteStore.appendingPathComponent("mlartifacts").resolvingSymlinksInPath().path))

        // The artifact root moved elsewhere: MLFLOW_ARTIFACT_ROOT says where.
        let moved = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: moved) }
        try FileManager.default.copyItem(at: Fixtures.sqliteStore.appendingPathComponent("mlartifacts"), to: moved.appendingPathComponent("elsewhere"))
        let relocated = try await Self.open(artifactRoot: moved.appendingPathComponent("elsewhere").path)
        defer { Task { await relocated.close() } }
        try await Fixtures.expectParity(relocated, "models:/battery-hazard@champion", champion)
        let again = try await relocated.resolve("models:/battery-hazard@champion")
        #expect(again.boosterFile.path.hasPrefix(moved.resolvingSymlinksInPath().path))
    }

    /// `mlflow.create_experiment(name, artifact_location=...)`: MLflow keeps the experiment's runs
    /// at `<location>/<run>/artifacts` and its logged models at `<location>/models/<id>/artifacts`,
    /// with no experiment-id folder. Served from a copy (the location's contents as `mlartifacts/`
    /// beside `mlflow.db`), every recorded path is stale: the experiment's own recorded location is
    /// the root they are rebased on, for both layouts.
    @Test func testAnExperimentsOwnArtifactLocationIsRebasedOn() async throws {
        let vector = try #require(try Fixtures.sqliteVectors().first { $0.case == "mlflow3_sqlite_own_location" })
        let source = try await Fixtures.source(for: vector)
        defer { Task { await source.close() } }
        let store = Fixtures.repoRoot.appendingPathComponent("fixtures/stores/mlflow3_sqlite_own_location")
        try await Fixtures.expectOwnLocationLayout(source, vector, root: store.appendingPathComponent("mlartifacts").path, label: "sqlite")
        let location = try await source.resolve("models:/battery-hazard@champion")
        #expect(location.registry == .init(name: "battery-hazard", version: 1, alias: "champion"))
    }

    @Test func testBadAndUnknownReferencesAreTypedErrors() async throws {
        let source = try await Self.open()
        defer { Task { await source.close() } }
        let champion = try #require(try Fixtures.mlflow3Vectors().first { $0.role == "champion" })
        for reference in ["runs:/\(champion.run_id)/../../../etc", "models:/../x/1", "models:/battery-hazard/0", "a/b", "models:/x@a/b"] {
            await #expect(throws: ArtifactError.self, "\(reference)") { _ = try await source.resolve(reference) }
            do { _ = try await source.resolve(reference) } catch let error as ArtifactError { #expect(error.kind == .invalidReference, "\(reference)") }
        }
        for reference in ["0123456789abcdef0123456789abcdef", "models:/battery-hazard/9", "models:/nope@champion", "models:/m-0123456789abcdef"] {
            do {
                _ = try await source.resolve(reference)
                Issue.record("\(reference) resolved")
            } catch let error as ArtifactError {
                #expect(error.kind == .notFound, "\(reference): \(error)")
            }
        }
    }

    /// Read-only: the database file is byte-for-byte the same after every kind of read, and a
    /// missing database is an error, not a new empty file.
    @Test func testTheDatabaseIsNeverWritten() async throws {
        let database = Fixtures.sqliteStore.appendingPathComponent("mlflow.db")
        let before = SHA256.hash(data: try Data(contentsOf: database))
        let source = try await Self.open()
        _ = try await source.runs(page: PageRequest())
        _ = try await source.registeredModels(page: PageRequest())
        _ = try await source.resolve("models:/battery-hazard@champion")
        await source.close()
        #expect(SHA256.hash(data: try Data(contentsOf: database)) == before)
        #expect(!FileManager.default.fileExists(atPath: database.path + "-wal"))

        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("absent-\(UUID().uuidString).db")
        var settings = ModelSources.Settings()
        settings.trackingURI = "sqlite:///" + missing.path
        await #expect(throws: ModelSourceError.self) { _ = try await ModelSources.open(settings, logger: Fixtures.logger) }
        #expect(!FileManager.default.fileExists(atPath: missing.path))
    }

    @Test func testTrackingURIKinds() throws {
        var settings = ModelSources.Settings()
        #expect(try settings.kind == .fileStore("./mlruns"))
        settings.trackingURI = "sqlite:///mlflow.db"
        #expect(try settings.kind == .sqlite("mlflow.db"))
        settings.trackingURI = "sqlite:////abs/mlflow.db"
        #expect(try settings.kind == .sqlite("/abs/mlflow.db"))
        settings.trackingURI = "file:///data/mlruns"
        #expect(try settings.kind == .fileStore("/data/mlruns"))
        settings.trackingURI = "http://127.0.0.1:5000"
        #expect(try settings.kind == .trackingServer("http://127.0.0.1:5000"))
        settings.trackingURI = "postgresql+psycopg2://u:p@db:5432/mlflow"
        #expect(try settings.kind == .postgres(URL(string: "postgresql://u:p@db:5432/mlflow")!))
        for bad in ["s3://bucket/x", "sqlite://", "http://"] {
            settings.trackingURI = bad
            #expect(throws: ModelSourceError.self, "\(bad)") { _ = try settings.kind }
        }
    }
}
