import Foundation
import Yams

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
    private let rootPath: String

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

    /// The full history of one metric of a run, oldest first.
    public func metricHistory(runId: String, metric: String) throws -> [Metric] {
        let run = try run(id: runId)
        guard SafePath.isRelativeArtifactPath(metric),
            let file = SafePath.contained("\(run.directory.path)/metrics/\(metric)", in: rootPath)
        else { throw ArtifactError(.notFound, "run \(runId) has no metric '\(Self.printable(metric))'") }
        return Self.metricLines(file)
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

    // MARK: - Resolving what to serve

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
        let mlmodel = try MLmodel(contentsOf: URL(fileURLWithPath: "\(modelDirectory)/MLmodel"))
        guard let flavor = mlmodel.xgboost else {
            throw ArtifactError(
                .unsupported, "the model has no xgboost flavor (flavors: \(mlmodel.flavors.joined(separator: ", ")))",
                path: "\(modelDirectory)/MLmodel")
        }
        guard SafePath.isRelativeArtifactPath(flavor.data),
            let booster = SafePath.contained("\(modelDirectory)/\(flavor.data)", in: rootPath)
        else {
            throw ArtifactError(.notFound, "the xgboost flavor's data file '\(flavor.data)' is missing", path: modelDirectory)
        }
        return ModelLocation(
            uri: uri, run: run, modelDirectory: URL(fileURLWithPath: modelDirectory),
            boosterFile: URL(fileURLWithPath: booster), mlmodel: mlmodel,
            scalerFile: findScaler(run: run, modelDirectory: modelDirectory).map { URL(fileURLWithPath: $0) },
            loggedModelId: loggedModelId ?? mlmodel.modelId, registry: nil)
    }

    /// The scaler logged beside the model: `scaler.joblib` (or `.pkl`) in the run's artifacts or
    /// the model directory, else the only `*scaler*.joblib|pkl` within two levels.
    private func findScaler(run: Run, modelDirectory: String) -> String? {
        var places = [modelDirectory]
        if let artifacts = run.artifactsDirectory?.path { places.insert(artifacts, at: 0) }
        for place in places {
            for name in ["scaler.joblib", "scaler.pkl", "preprocessing/scaler.joblib", "preprocessor/scaler.joblib"] {
                if let real = SafePath.contained("\(place)/\(name)", in: rootPath) { return real }
            }
        }
        for place in places {
            let found = files(below: place, depth: 2).filter {
                let name = ($0 as NSString).lastPathComponent.lowercased()
                return name.contains("scaler") && (name.hasSuffix(".joblib") || name.hasSuffix(".pkl"))
            }
            if found.count == 1 { return found[0] }
        }
        return nil
    }

    // MARK: - Reading files

    private func loadRun(directory: String, experiment: Experiment) throws -> Run {
        guard let real = SafePath.contained(directory, in: rootPath), let meta = yaml(at: "\(real)/meta.yaml") else {
            throw ArtifactError(.malformed, "run folder has no readable meta.yaml", path: directory)
        }
        let id = (meta["run_id"] as? String) ?? (meta["run_uuid"] as? String) ?? (directory as NSString).lastPathComponent
        let params = keyValues(in: "\(real)/params")
        let tags = keyValues(in: "\(real)/tags")
        var metrics: [String: Metric] = [:]
        for name in files(below: "\(real)/metrics", depth: 4) {
            let key = String(name.dropFirst("\(real)/metrics/".count))
            if let latest = Self.latest(Self.metricLines(name)) { metrics[key] = latest }
        }
        let artifacts = SafePath.contained("\(real)/artifacts", in: rootPath)
        return Run(
            id: id,
            name: (meta["run_name"] as? String) ?? tags["mlflow.runName"],
            experimentId: experiment.id,
            experimentName: experiment.name,
            status: Run.statusName(meta["status"]),
            lifecycleStage: meta["lifecycle_stage"] as? String ?? "active",
            startTime: Self.number(meta["start_time"]),
            endTime: Self.number(meta["end_time"]),
            recordedArtifactURI: meta["artifact_uri"] as? String,
            directory: URL(fileURLWithPath: real, isDirectory: true),
            artifactsDirectory: artifacts.map { URL(fileURLWithPath: $0, isDirectory: true) },
            params: params, metrics: metrics, tags: tags)
    }

    /// A folder of one-value files (params/, tags/), names may contain `/` (nested folders).
    private func keyValues(in directory: String) -> [String: String] {
        var out: [String: String] = [:]
        for file in files(below: directory, depth: 4) {
            let key = String(file.dropFirst(directory.count + 1))
            out[key] = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        }
        return out
    }

    /// Metric files hold lines `<timestamp ms> <value> [<step>]`.
    private static func metricLines(_ file: String) -> [Metric] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let value = Double(fields[1]) else { return nil }
            return Metric(value: value, timestamp: Int64(fields[0]) ?? 0, step: fields.count > 2 ? Int64(fields[2]) ?? 0 : 0)
        }
    }

    /// MLflow's "latest" value: the highest step, then the latest timestamp.
    private static func latest(_ history: [Metric]) -> Metric? {
        history.max { ($0.step, $0.timestamp) < ($1.step, $1.timestamp) }
    }

    private func yaml(at path: String) -> [String: Any]? {
        guard let real = SafePath.contained(path, in: rootPath),
            let text = try? String(contentsOfFile: real, encoding: .utf8)
        else { return nil }
        return Self.meta(parsing: text)
    }

    /// A meta.yaml mapping. Composed with Yams' basic resolver, so every scalar stays text: the
    /// default resolver compiles its implicit-type regexes with NSRegularExpression, which loads
    /// ICU (megabytes of resident memory) to read a few files whose numbers `number(_:)` reads
    /// from text anyway.
    static func meta(parsing text: String) -> [String: Any]? {
        guard let node = try? Yams.compose(yaml: text, .basic), case .mapping = node else { return nil }
        return plainValue(node) as? [String: Any]
    }

    /// A YAML node as strings, dictionaries and arrays; a plain `null`, `~` or empty scalar is
    /// absent, as with the default resolver.
    static func plainValue(_ node: Node) -> Any? {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["null", "Null", "NULL", "~", ""].contains(scalar.string) { return nil }
            return scalar.string
        case .mapping(let mapping):
            var out: [String: Any] = [:]
            for (key, value) in mapping {
                if let key = key.string, let value = plainValue(value) { out[key] = value }
            }
            return out
        case .sequence(let sequence):
            return sequence.compactMap(plainValue)
        case .alias:
            return nil
        }
    }

    private func childDirectories(of path: String) throws -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return entries.filter { entry in
            var isDirectory: ObjCBool = false
            return !entry.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(path)/\(entry)", isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
    }

    private func childFiles(of path: String) throws -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return entries.filter { entry in
            var isDirectory: ObjCBool = false
            return !entry.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(path)/\(entry)", isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }
    }

    /// Regular files below `path` (depth-limited, symlinks leaving the root skipped), full paths.
    private func files(below path: String, depth: Int) -> [String] {
        guard depth > 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        var out: [String] = []
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let full = "\(path)/\(entry)"
            guard SafePath.contained(full, in: rootPath) != nil else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue { out += files(below: full, depth: depth - 1) } else { out.append(full) }
        }
        return out
    }

    private func findMLmodel(below path: String, depth: Int) -> String? {
        files(below: path, depth: depth)
            .filter { ($0 as NSString).lastPathComponent == "MLmodel" }
            .min { $0.count < $1.count }
            .map { ($0 as NSString).deletingLastPathComponent }
    }

    static func number(_ value: Any?) -> Double? {
        switch value {
        case let i as Int: return Double(i)
        case let d as Double: return d
        case let s as String: return Double(s)
        default: return nil
        }
    }

    /// Identifiers echoed in error messages: printable, bounded.
    public static func printable(_ s: String) -> String {
        let cleaned = s.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : String($0) }.joined()
        return cleaned.count > 80 ? String(cleaned.prefix(80)) + "…" : cleaned
    }
}
