import Artifacts
import Foundation

/// MLflow 3's logged model, as a backend database or tracking server records it.
struct LoggedModelRecord: Sendable, Codable {
    let id: String
    let name: String?
    let experimentId: String
    let sourceRunId: String?
    /// `artifact_location` as recorded (`file:///...`, `mlflow-artifacts:/...`).
    let artifactLocation: String?
    let creationTime: Double
}

/// The lookups a metadata source answers (a backend database, a tracking server); `resolve`
/// below turns them into a model on local disk, the same way for both.
protocol MLflowCatalog: Sendable {
    /// A run's metadata; its artifacts are not looked at.
    func run(id: String) async throws -> Run
    func modelVersion(name: String, version: Int) async throws -> ModelVersion
    func aliasVersion(model: String, alias: String) async throws -> Int
    func loggedModel(id: String) async throws -> LoggedModelRecord
    /// The logged models whose source run is `run`, newest first (none before MLflow 3).
    func loggedModels(ofRun run: Run) async throws -> [LoggedModelRecord]
    /// The run's artifact folder on local disk (found or downloaded), or nil if it has none.
    func localArtifacts(of run: Run) async throws -> LocalFolder?
    func localArtifacts(of model: LoggedModelRecord) async throws -> LocalFolder
}

/// A folder on local disk and the root every path read from it must stay inside.
struct LocalFolder: Sendable {
    let path: String
    let root: String
}

extension MLflowCatalog {
    /// `ModelSource.resolve` for catalogs: the same references and the same search order as the
    /// file store (the run's own artifacts, then MLflow 3 logged models of the run).
    func resolveReference(_ text: String) async throws -> ModelLocation {
        switch try ModelReference(parsing: text) {
        case .run(let id, let path):
            return try await locate(run: try await run(id: id), artifactPath: path, uri: text)
        case .loggedModel(let id):
            return try await locate(loggedModel: try await loggedModel(id: id), uri: text)
        case .version(let name, let number):
            return try await locate(version: try await modelVersion(name: name, version: number), uri: text, alias: nil)
        case .alias(let name, let alias):
            let number = try await aliasVersion(model: name, alias: alias)
            return try await locate(version: try await modelVersion(name: name, version: number), uri: text, alias: alias)
        }
    }

    private func locate(version: ModelVersion, uri: String, alias: String?) async throws -> ModelLocation {
        var location: ModelLocation
        if let source = version.source, source.hasPrefix("models:/m-") {
            location = try await locate(loggedModel: try await loggedModel(id: String(source.dropFirst("models:/".count))), uri: uri)
        } else if let source = version.source, source.hasPrefix("runs:/") {
            location = try await resolveReference(source)
        } else if let modelId = version.modelId {
            location = try await locate(loggedModel: try await loggedModel(id: modelId), uri: uri)
        } else if let runId = version.runId {
            // A source recorded as an artifact URI (`file:///.../<run>/artifacts/model`,
            // `mlflow-artifacts:/1/<run>/artifacts/model`): the path below the run's artifacts.
            let path = version.source.flatMap { source -> String? in
                guard let range = source.range(of: "/\(runId)/artifacts/") else { return nil }
                return String(source[range.upperBound...])
            }
            if let path, !SafePath.isRelativeArtifactPath(path) {
                throw ArtifactError(.invalidReference, "version \(version.version) of '\(version.name)' has an unusable source path")
            }
            location = try await locate(run: try await run(id: runId), artifactPath: path, uri: uri)
        } else {
            throw ArtifactError(.notFound, "registered model '\(version.name)' version \(version.version) names neither a run nor a logged model")
        }
        location.uri = uri
        location.registry = ModelLocation.Registry(name: version.name, version: version.version, alias: alias)
        return location
    }

    private func locate(loggedModel model: LoggedModelRecord, uri: String) async throws -> ModelLocation {
        guard let runId = model.sourceRunId else {
            throw ArtifactError(.notFound, "logged model \(model.id) names no source run")
        }
        var run = try await run(id: runId)
        let folder = try await localArtifacts(of: model)
        if let runFolder = try? await localArtifacts(of: run) { run = run.withArtifacts(in: URL(fileURLWithPath: runFolder.path)) }
        guard FileManager.default.fileExists(atPath: "\(folder.path)/MLmodel") else {
            throw ArtifactError(.notFound, "logged model \(model.id) has no MLmodel in its artifacts", path: folder.path)
        }
        return try ModelFiles.location(run: run, modelDirectory: folder.path, root: folder.root, uri: uri, loggedModelId: model.id)
    }

    private func locate(run: Run, artifactPath: String?, uri: String) async throws -> ModelLocation {
        var run = run
        // 1. The run's own artifacts (MLflow 2 `log_model`, or `runs:/<id>/<path>`).
        if let folder = try await localArtifacts(of: run) {
            run = run.withArtifacts(in: URL(fileURLWithPath: folder.path))
            if let directory = ModelFiles.modelDirectory(in: folder.path, artifactPath: artifactPath, root: folder.root) {
                return try ModelFiles.location(run: run, modelDirectory: directory, root: folder.root, uri: uri, loggedModelId: nil)
            }
        }
        // 2. MLflow 3: a logged model whose source run is this run (newest first), by name with a path.
        if artifactPath.map({ !$0.contains("/") }) ?? true {
            let models = try await loggedModels(ofRun: run)
            if let model = artifactPath.map({ path in models.first { $0.name == path } }) ?? models.first {
                let folder = try await localArtifacts(of: model)
                if FileManager.default.fileExists(atPath: "\(folder.path)/MLmodel") {
                    return try ModelFiles.location(run: run, modelDirectory: folder.path, root: folder.root, uri: uri, loggedModelId: model.id)
                }
            }
        }
        throw ArtifactError(
            .notFound, "run \(run.id) has no MLmodel\(artifactPath.map { " at '\($0)'" } ?? "") in its artifacts or logged models")
    }
}
