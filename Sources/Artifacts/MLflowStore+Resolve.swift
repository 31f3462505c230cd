import Foundation

/// Resolving a model reference (run id, `runs:/`, `models:/name/version`, `models:/name@alias`,
/// MLflow 3 `models:/m-<id>`) to the model and scaler files to serve.
extension MLflowStore {
    /// Resolves a reference to the model to serve:
    /// a bare run id, `runs:/<run_id>[/<artifact path>]`, `models:/<name>/<version>`,
    /// `models:/<name>@<alias>`, or (MLflow 3) `models:/m-<model id>`.
    /// - Throws: `.invalidReference` for malformed references, `.notFound` when any part is missing.
    public func resolve(_ reference: String) throws -> ModelLocation {
        let reference = reference.trimmingCharacters(in: .whitespaces)
        if reference.hasPrefix("runs:/") {
            let rest = reference.dropFirst("runs:/".count)
            let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
            guard let runId = parts.first else {
                throw ArtifactError(.invalidReference, "'\(Self.printable(reference))' names no run")
            }
            return try locate(run: try run(id: runId), artifactPath: parts.count > 1 ? parts[1] : nil, uri: reference)
        }
        if reference.hasPrefix("models:/") {
            let rest = String(reference.dropFirst("models:/".count))
            if rest.hasPrefix("m-"), SafePath.isIdentifier(rest) {
                return try locate(loggedModelId: rest, uri: reference)
            }
            let (name, selector): (String, Substring)
            if let at = rest.lastIndex(of: "@") {
                name = String(rest[..<at])
                selector = rest[rest.index(after: at)...]
                let model = try registeredModel(named: name)
                guard let version = model.aliases[String(selector)] else {
                    throw ArtifactError(.notFound, "registered model '\(name)' has no alias '\(Self.printable(String(selector)))'")
                }
                return try locate(version: model, number: version, uri: reference, alias: String(selector))
            }
            guard let slash = rest.lastIndex(of: "/") else {
                throw ArtifactError(.invalidReference, "'\(Self.printable(reference))' must be models:/<name>/<version> or models:/<name>@<alias>")
            }
            name = String(rest[..<slash])
            selector = rest[rest.index(after: slash)...]
            guard let number = Int(selector), number > 0 else {
                throw ArtifactError(.invalidReference, "'\(Self.printable(String(selector)))' is not a model version number")
            }
            return try locate(version: try registeredModel(named: name), number: number, uri: reference, alias: nil)
        }
        return try locate(run: try run(id: reference), artifactPath: nil, uri: reference)
    }

    private func locate(version model: RegisteredModel, number: Int, uri: String, alias: String?) throws -> ModelLocation {
        guard let version = model.versions.first(where: { $0.version == number }) else {
            throw ArtifactError(.notFound, "registered model '\(model.name)' has no version \(number)")
        }
        let registry = ModelLocation.Registry(name: model.name, version: number, alias: alias)
        var location: ModelLocation
        if let source = version.source, source.hasPrefix("models:/m-") {
            location = try locate(loggedModelId: String(source.dropFirst("models:/".count)), uri: uri)
        } else if let source = version.source, source.hasPrefix("runs:/") {
            location = try resolve(source)
        } else if let modelId = version.modelId {
            location = try locate(loggedModelId: modelId, uri: uri)
        } else if let runId = version.runId {
            // Sources recorded as absolute paths from the training machine: use the run and the
            // path below its artifacts folder.
            let artifactPath = version.source.flatMap { Self.artifactPath(inRunSource: $0, runId: runId) }
            location = try locate(run: try run(id: runId), artifactPath: artifactPath, uri: uri)
        } else {
            throw ArtifactError(.notFound, "registered model '\(model.name)' version \(number) names neither a run nor a logged model")
        }
        location.uri = uri
        location.registry = registry
        return location
    }

    /// `.../<run_id>/artifacts/<path>` -> `<path>`.
    private static func artifactPath(inRunSource source: String, runId: String) -> String? {
        guard let range = source.range(of: "/\(runId)/artifacts/") else { return nil }
        return String(source[range.upperBound...])
    }

    private func locate(loggedModelId id: String, uri: String) throws -> ModelLocation {
        for experiment in try experiments() {
            let directory = "\(rootPath)/\(experiment.id)/models/\(id)"
            guard let real = SafePath.contained(directory, in: rootPath),
                let meta = yaml(at: "\(real)/meta.yaml")
            else { continue }
            guard let artifacts = SafePath.contained("\(real)/artifacts", in: rootPath),
                FileManager.default.fileExists(atPath: "\(artifacts)/MLmodel")
            else {
                throw ArtifactError(.notFound, "logged model \(id) has no artifacts/MLmodel", path: real)
            }
            guard let runId = meta["source_run_id"] as? String else {
                throw ArtifactError(.notFound, "logged model \(id) names no source run", path: real)
            }
            let run = try run(id: runId)
            return try location(run: run, modelDirectory: artifacts, uri: uri, loggedModelId: id)
        }
        throw ArtifactError(.notFound, "no logged model with id \(id) in any experiment")
    }

    private func locate(run: Run, artifactPath: String?, uri: String) throws -> ModelLocation {
        if let artifactPath {
            guard SafePath.isRelativeArtifactPath(artifactPath) else {
                throw ArtifactError(.invalidReference, "artifact path '\(Self.printable(artifactPath))' must be relative and stay inside the run")
            }
        }
        // 1. The run's own artifacts (MLflow 2 `log_model`, or `runs:/<id>/<path>`).
        if let artifacts = run.artifactsDirectory {
            let candidate = artifactPath.map { "\(artifacts.path)/\($0)" } ?? artifacts.path
            if let real = SafePath.contained(candidate, in: rootPath) {
                if FileManager.default.fileExists(atPath: "\(real)/MLmodel") {
                    return try location(run: run, modelDirectory: real, uri: uri, loggedModelId: nil)
                }
                if artifactPath == nil, let found = findMLmodel(below: real, depth: 3) {
                    return try location(run: run, modelDirectory: found, uri: uri, loggedModelId: nil)
                }
            }
        }
        // 2. MLflow 3: a logged model whose source run is this run (newest first).
        if artifactPath == nil || artifactPath.map({ !$0.contains("/") }) == true {
            let models = loggedModels(ofRun: run)
            let named = artifactPath.map { path in models.filter { $0.name == path } } ?? models
            if let model = named.first {
                return try location(run: run, modelDirectory: model.artifacts, uri: uri, loggedModelId: model.id)
            }
        }
        throw ArtifactError(
            .notFound,
            "run \(run.id) has no MLmodel\(artifactPath.map { " at '\($0)'" } ?? "") in its artifacts or logged models")
    }

    private struct LoggedModel {
        let id: String
        let name: String?
        let artifacts: String
        let created: Double
    }

    private func loggedModels(ofRun run: Run) -> [LoggedModel] {
        let directory = "\(rootPath)/\(run.experimentId)/models"
        guard let names = try? childDirectories(of: directory) else { return [] }
        return names.compactMap { id -> LoggedModel? in
            guard SafePath.isIdentifier(id),
                let real = SafePath.contained("\(directory)/\(id)", in: rootPath),
                let meta = yaml(at: "\(real)/meta.yaml"),
                meta["source_run_id"] as? String == run.id,
                let artifacts = SafePath.contained("\(real)/artifacts", in: rootPath),
                FileManager.default.fileExists(atPath: "\(artifacts)/MLmodel")
            else { return nil }
            return LoggedModel(
                id: id, name: meta["name"] as? String, artifacts: artifacts,
                created: Self.number(meta["creation_timestamp"]) ?? 0)
        }
        .sorted { $0.created > $1.created }
    }

    private func location(run: Run, modelDirectory: String, uri: String, loggedModelId: String?) throws -> ModelLocation {
        try ModelFiles.location(run: run, modelDirectory: modelDirectory, root: rootPath, uri: uri, loggedModelId: loggedModelId)
    }
}
