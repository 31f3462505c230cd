import Foundation

/// A read-only view of an MLflow file store (`mlruns/`, what `mlflow` writes with a `file:`
/// tracking URI), as MLflow 2.x and 3.x lay it out:
///
/// ```
/// mlruns/<experiment_id>/meta.yaml                      experiment
/// mlruns/<experiment_id>/<run_id>/meta.yaml             run (params/, metrics/, tags/, artifacts/)
/// mlruns/<experiment_id>/models/m-<id>/meta.yaml        MLflow 3 logged model (artifacts/MLmodel)
/// mlruns/models/<name>/version-<n>/meta.yaml            model registry version
/// mlruns/models/<name>/aliases/<alias>                  registry alias -> version
/// ```
///
/// Runs are found by id in any experiment, never by a hard-coded experiment id. A run's recorded
/// `artifact_uri` usually names the machine it was trained on; artifacts are read from the run's
/// own folder under the root instead. Every identifier is validated and every path resolved
/// (symlinks included) before it is opened: nothing outside the root is ever read.
///
/// Thread safety: a value type over the file system; safe to use from any task.
public struct MLflowStore: Sendable {
    /// The store's root, symlinks resolved.
    public let root: URL
    let rootPath: String

    /// Opens the store at `root`.
    /// - Throws: `ArtifactError(.notFound)` if the directory does not exist.
    public init(root: URL) throws {
        guard let real = SafePath.realPath(root.path) else {
            throw ArtifactError(.notFound, "MLflow store directory does not exist", path: root.path)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ArtifactError(.notFound, "MLflow store path is not a directory", path: root.path)
        }
        self.rootPath = real
        self.root = URL(fileURLWithPath: real, isDirectory: true)
    }

    // MARK: - Experiments

    /// Every experiment in the store (active and deleted), by id.
    public func experiments() throws -> [Experiment] {
        try childDirectories(of: rootPath).compactMap { name -> Experiment? in
            guard SafePath.isIdentifier(name), let meta = yaml(at: "\(rootPath)/\(name)/meta.yaml") else { return nil }
            return Experiment(id: name, meta: meta)
        }
        .sorted { (Int($0.id) ?? Int.max, $0.id) < (Int($1.id) ?? Int.max, $1.id) }  // numeric ids in number order
    }

    // MARK: - Runs

    /// Every run of every experiment, newest first. Deleted runs are left out unless asked for.
    public func runs(includeDeleted: Bool = false) throws -> [Run] {
        var result: [Run] = []
        for experiment in try experiments() where includeDeleted || experiment.lifecycleStage != "deleted" {
            for name in try childDirectories(of: "\(rootPath)/\(experiment.id)") where SafePath.isIdentifier(name) {
                guard let run = try? loadRun(directory: "\(rootPath)/\(experiment.id)/\(name)", experiment: experiment)
                else { continue }
                if includeDeleted || run.lifecycleStage != "deleted" { result.append(run) }
            }
        }
        return result.sorted { ($0.startTime ?? 0) > ($1.startTime ?? 0) }
    }

    /// The run with this id, in whatever experiment holds it.
    /// - Throws: `.invalidReference` for an id that is not a run id, `.notFound` when no experiment has it.
    public func run(id: String) throws -> Run {
        guard SafePath.isIdentifier(id) else {
            throw ArtifactError(.invalidReference, "'\(Self.printable(id))' is not a valid MLflow run id")
        }
        for experiment in try experiments() {
            let directory = "\(rootPath)/\(experiment.id)/\(id)"
            guard SafePath.contained(directory, in: rootPath) != nil,
                FileManager.default.fileExists(atPath: "\(directory)/meta.yaml")
            else { continue }
            return try loadRun(directory: directory, experiment: experiment)
        }
        throw ArtifactError(.notFound, "no run with id \(id) in any experiment of the store")
    }

    // MARK: - Registry

    /// Registered models with their versions and aliases.
    public func registeredModels() throws -> [RegisteredModel] {
        let base = "\(rootPath)/models"
        guard FileManager.default.fileExists(atPath: base) else { return [] }
        return try childDirectories(of: base).compactMap { name in
            SafePath.isModelName(name) ? try? registeredModel(named: name) : nil
        }
    }

    /// One registered model by name.
    public func registeredModel(named name: String) throws -> RegisteredModel {
        guard SafePath.isModelName(name) else {
            throw ArtifactError(.invalidReference, "'\(Self.printable(name))' is not a valid registered model name")
        }
        guard let directory = SafePath.contained("\(rootPath)/models/\(name)", in: rootPath) else {
            throw ArtifactError(.notFound, "no registered model named '\(name)'")
        }
        var versions: [ModelVersion] = []
        for entry in try childDirectories(of: directory) where entry.hasPrefix("version-") {
            guard let number = Int(entry.dropFirst("version-".count)),
                let meta = yaml(at: "\(directory)/\(entry)/meta.yaml")
            else { continue }
            versions.append(ModelVersion(name: name, version: number, meta: meta))
        }
        var aliases: [String: Int] = [:]
        let aliasDirectory = "\(directory)/aliases"
        for alias in (try? childFiles(of: aliasDirectory)) ?? [] where SafePath.isIdentifier(alias) {
            if let file = SafePath.contained("\(aliasDirectory)/\(alias)", in: rootPath),
                let text = try? String(contentsOfFile: file, encoding: .utf8),
                let version = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                aliases[alias] = version
            }
        }
        return RegisteredModel(name: name, versions: versions.sorted { $0.version < $1.version }, aliases: aliases)
    }

    /// Identifiers echoed in error messages: printable, bounded.
    public static func printable(_ s: String) -> String {
        let cleaned = s.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : String($0) }.joined()
        return cleaned.count > 80 ? String(cleaned.prefix(80)) + "…" : cleaned
    }
}
