import Artifacts
import Foundation
import Testing

@testable import ModelSources

/// A real `mlflow server` (3.17.2, `--serve-artifacts`, SQLite backend) with the battery-hazard
/// runs logged through its REST API by the fixture script: the REST source and its cache.
@Suite("Tracking server source", .enabled(if: LiveMLflow.isRunning, "needs TEST_MLFLOW_URL: run under scripts/with-mlflow.sh (make test does)"),
       .timeLimit(.minutes(5)))
struct TrackingServerSourceTests {
    @Test func testEveryReferenceFormGivesPythonsProbabilities() async throws {
        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let source = try await LiveMLflow.source(cache: cache)
        defer { Task { await source.close() } }
        let vectors = try LiveMLflow.vectors()
        #expect(vectors.map(\.role).sorted() == ["baseline", "champion"])
        var checked = 0
        for vector in vectors {
            for reference in Fixtures.references(for: vector) {
                let largest = try await Fixtures.expectParity(source, reference, vector)
                print("parity http \(reference): max |swift - python| = \(largest)")
                checked += 1
            }
        }
        #expect(checked == 9)
        let location = try await source.resolve("models:/battery-hazard@champion")
        #expect(location.registry == .init(name: "battery-hazard", version: 2, alias: "champion"))
        #expect(location.run.recordedArtifactURI?.hasPrefix("mlflow-artifacts:/") == true)
    }

    /// The server's own backend database and artifact root, read directly: `mlflow-artifacts:`
    /// locations are found under the root too.
    @Test func testTheServersDatabaseGivesTheSameAnswers() async throws {
        var settings = ModelSources.Settings()
        settings.trackingURI = "sqlite:///" + (LiveMLflow.environment["TEST_MLFLOW_DB"] ?? "")
        settings.artifactRoot = LiveMLflow.environment["TEST_MLFLOW_ARTIFACTS"]
        let source = try await ModelSources.open(settings, logger: Fixtures.logger)
        defer { Task { await source.close() } }
        let champion = try LiveMLflow.champion()
        for reference in ["models:/battery-hazard@champion", champion.run_id] {
            try await Fixtures.expectParity(source, reference, champion)
        }
    }

    @Test func testListingsThroughTheRESTAPI() async throws {
        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let source = try await LiveMLflow.source(cache: cache)
        defer { Task { await source.close() } }
        #expect(try await source.experiments().map(\.name).contains("battery-hazard"))
        let first = try await source.runs(page: PageRequest(maxResults: 1))
        #expect(first.items.count == 1)
        let token = try #require(first.nextToken)
        let second = try await source.runs(page: PageRequest(maxResults: 1, token: token))
        #expect(second.items.count == 1)
        #expect(Set((first.items + second.items).map(\.id)) == Set(try LiveMLflow.vectors().map(\.run_id)))
        let champion = try #require((first.items + second.items).first { $0.id == (try? LiveMLflow.champion())?.run_id })
        #expect(champion.params["n_estimators"] == "200")
        #expect((champion.metrics["roc_auc"]?.value ?? 0) > 0.98)
        let models = try await source.registeredModels(page: PageRequest(maxResults: 1000))
        let hazard = try #require(models.items.first { $0.name == "battery-hazard" })
        #expect(hazard.versions.map(\.version).starts(with: [1, 2]))
        #expect(hazard.aliases["champion"] == 2)
        #expect(try await source.aliasVersion(model: "battery-hazard", alias: "champion") == 2)
        do {
            _ = try await source.aliasVersion(model: "battery-hazard", alias: "no-such-alias")
            Issue.record("an unknown alias resolved")
        } catch let error as ArtifactError {
            #expect(error.kind == .notFound)
        }
    }

    /// Downloads land in the cache, checked by size and SHA-256: a second source (a restart)
    /// downloads nothing, a source whose server is down serves the cached model, and a cached
    /// file that changed is refused.
    @Test func testTheCacheServesARestartAndAServerThatIsDown() async throws {
        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let champion = try LiveMLflow.champion()
        let first = try await LiveMLflow.source(cache: cache)
        let location = try await first.resolve("models:/battery-hazard@champion")
        await first.close()
        let manifest = location.modelDirectory.appendingPathComponent(".manifest.json")
        let written = try FileManager.default.attributesOfItem(atPath: manifest.path)[.modificationDate] as? Date
        #expect(written != nil)

        // A restart: the same cache, the server up. Nothing is downloaded again.
        let restarted = try await LiveMLflow.source(cache: cache)
        let again = try await restarted.resolve("models:/battery-hazard@champion")
        await restarted.close()
        #expect(again.modelDirectory == location.modelDirectory)
        #expect(try FileManager.default.attributesOfItem(atPath: manifest.path)[.modificationDate] as? Date == written)

        // The server down: resolving fails as unreachable, the cache still answers.
        let dead = LiveMLflow.deadURL()
        let down = try await LiveMLflow.source(url: dead, cache: cache) { $0.attempts = 2 }
        defer { Task { await down.close() } }
        do {
            _ = try await down.resolve("models:/battery-hazard@champion")
            Issue.record("a dead server answered")
        } catch let error as ModelSourceError {
            guard case .unreachable = error else { throw error }
        }
        // The cache is per server: copy this server's folder under the dead one's name.
        let server = try #require(down as? TrackingServerSource)
        let live = try #require(try FileManager.default.contentsOfDirectory(atPath: cache.path).first { !server.cache.root.hasSuffix($0) })
        try FileManager.default.removeItem(atPath: server.cache.root)
        try FileManager.default.copyItem(atPath: cache.appendingPathComponent(live).path, toPath: server.cache.root)
        let (cached, _) = try await server.resolveFromCache("models:/battery-hazard@champion")
        #expect(cached.run.id == champion.run_id)
        #expect(cached.registry?.version == 2)
        let model = try HazardModel(location: cached)
        let probabilities = try model.predict(readings: champion.readings).map { Double($0.probability) }
        #expect(zip(probabilities, champion.probabilities).allSatisfy { abs($0 - $1) <= 1e-6 })

        // A cached file that no longer matches its manifest is not served.
        let booster = cached.boosterFile
        var bytes = try Data(contentsOf: booster)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: booster)
        await #expect(throws: ArtifactError.self) { _ = try await server.resolveFromCache("models:/battery-hazard@champion") }
        await #expect(throws: ArtifactError.self) { _ = try await server.resolveFromCache("models:/battery-hazard/1") }
    }

    @Test(.enabled(if: LiveMLflow.hasAuthServer, "needs TEST_MLFLOW_AUTH_URL (scripts/with-mlflow.sh)"))
    func testAServerThatRequiresCredentials() async throws {
        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let url = try #require(LiveMLflow.environment["TEST_MLFLOW_AUTH_URL"])
        let anonymous = try await LiveMLflow.source(url: url, cache: cache)
        do {
            _ = try await anonymous.experiments()
            Issue.record("the auth server answered without credentials")
        } catch let error as ModelSourceError {
            guard case .unauthorized(let message) = error else { throw error }
            #expect(message.contains("401"), "\(message)")
            #expect(!message.contains(LiveMLflow.environment["TEST_MLFLOW_AUTH_PASSWORD"] ?? "\u{0}"))
        }
        await anonymous.close()

        let wrong = try await LiveMLflow.source(url: url, cache: cache) {
            $0.username = "admin"
            $0.password = "not-the-password"
        }
        await #expect(throws: ModelSourceError.self) { _ = try await wrong.experiments() }
        await wrong.close()

        let admin = try await LiveMLflow.source(url: url, cache: cache) {
            $0.username = LiveMLflow.environment["TEST_MLFLOW_AUTH_USERNAME"]
            $0.password = LiveMLflow.environment["TEST_MLFLOW_AUTH_PASSWORD"]
        }
        defer { Task { await admin.close() } }
        #expect(try await admin.experiments().map(\.name).contains("Default"))
    }
}
