import Artifacts
import Foundation
import Logging
import Synchronization

/// An MLflow tracking server (`http(s)://host:port`): metadata from its REST API, artifacts
/// downloaded through its artifact proxy (`mlflow-artifacts:` locations, `mlflow server
/// --serve-artifacts`, the default) into an `ArtifactCache`. Reads only: searches are POSTs, but
/// nothing is ever created, changed or deleted on the server.
public final class TrackingServerSource: CachingModelSource, MLflowCatalog {
    let client: TrackingServerClient
    let cache: ArtifactCache
    private let logger: Logger
    private let experimentNames = Mutex<[String: String]>([:])
    /// Run id -> the logged models it output (runs/get's `outputs`, MLflow 3).
    private let runOutputs = Mutex<[String: [String]]>([:])
    /// Largest download accepted for one run or model folder: files and folders listed, and how
    /// deep folders nest (MLflow's model folders are two or three deep).
    static let maximumFiles = 1000
    static let maximumDepth = 16
    /// `MODEL_MAX_ARTIFACT_BYTES`: bytes of one run's or model's artifacts, at most.
    let maximumBytes: Int

    init(client: TrackingServerClient, cacheDirectory: String, maximumBytes: Int = ModelSources.Settings.defaultMaxArtifactBytes, logger: Logger) throws {
        self.client = client
        self.maximumBytes = maximumBytes
        self.logger = logger
        // One cache folder per server, so two servers' run ids never meet.
        let key = client.printableBase.map { $0.isLetter || $0.isNumber ? $0 : "_" }
        self.cache = try ArtifactCache(directory: "\(cacheDirectory)/\(String(key).prefix(100))")
    }

    public var description: String { "tracking server \(client.printableBase) (cache \(cache.root))" }

    // MARK: - Listing

    public func experiments() async throws -> [Experiment] {
        struct Search: Encodable {
            let max_results = 1000
            let view_type = "ALL"
            let page_token: String?
        }
        var out: [Experiment] = []
        var token: String?
        repeat {  // bounded: at most 10 pages of 1000
            let page = try await client.post("experiments/search", body: Search(page_token: token), as: ExperimentsPage.self)
            out += (page.experiments ?? []).map {
                Experiment(id: $0.experiment_id, name: $0.name, lifecycleStage: $0.lifecycle_stage ?? "active",
                           creationTime: $0.creation_time.map { Double($0.value) })
            }
            token = page.next_page_token.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil && out.count < 10_000
        experimentNames.withLock { names in for e in out { names[e.id] = e.name } }
        return out.sorted { (Int($0.id) ?? Int.max, $0.id) < (Int($1.id) ?? Int.max, $1.id) }
    }

    public func runs(page: PageRequest) async throws -> Page<Run> {
        struct Search: Encodable {
            let experiment_ids: [String]
            let max_results: Int
            let page_token: String?
            let order_by = ["attributes.start_time DESC"]
            let run_view_type = "ACTIVE_ONLY"
        }
        let experiments = try await experiments().filter { $0.lifecycleStage == "active" }
        guard !experiments.isEmpty else { return Page(items: [], nextToken: nil) }
        let names = Dictionary(experiments.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let answer = try await client.post(
            "runs/search", body: Search(experiment_ids: experiments.map(\.id), max_results: page.maxResults, page_token: page.token),
            as: RunsPage.self)
        let runs = (answer.runs ?? []).map { $0.run(experimentName: names[$0.info.experiment_id] ?? $0.info.experiment_id, folder: URL(fileURLWithPath: cache.root)) }
        return Page(items: runs, nextToken: answer.next_page_token.flatMap { $0.isEmpty ? nil : $0 })
    }

    public func registeredModels(page: PageRequest) async throws -> Page<RegisteredModel> {
        var query = ["max_results": String(page.maxResults)]
        if let token = page.token { query["page_token"] = token }
        let answer = try await client.get("registered-models/search", query: query, as: RegisteredModelsPage.self)
        var models: [RegisteredModel] = []
        for model in answer.registered_models ?? [] {
            let quoted = model.name.replacingOccurrences(of: "'", with: "\\'")
            let versions = try await client.get(
                "model-versions/search", query: ["filter": "name='\(quoted)'", "max_results": "1000"], as: ModelVersionsPage.self)
            models.append(
                RegisteredModel(
                    name: model.name,
                    versions: (versions.model_versions ?? []).compactMap { $0.modelVersion() }.sorted { $0.version < $1.version },
                    aliases: Dictionary((model.aliases ?? []).compactMap { a in Int(a.version).map { (a.alias, $0) } }, uniquingKeysWith: { a, _ in a })))
        }
        return Page(items: models, nextToken: answer.next_page_token.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Unknown without downloading the run's artifacts, which a listing must not do.
    public func servability(of run: Run) async -> Servability? { nil }

    public func aliasVersion(model: String, alias: String) async throws -> Int {
        do {
            let answer = try await client.get("registered-models/alias", query: ["name": model, "alias": alias], as: ModelVersionAnswer.self)
            guard let version = Int(answer.model_version.version) else {
                throw ModelSourceError.protocolError("alias \(alias) of '\(model)' names version '\(answer.model_version.version)'")
            }
            return version
        } catch let error as ArtifactError where error.kind == .invalidReference {
            // MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE.
            throw ArtifactError(.notFound, "registered model '\(model)' has no alias '\(alias)' (\(error.message))")
        }
    }

    /// Resolves on the server, downloading what is not cached yet, and remembers the answer for
    /// `resolveFromCache`.
    public func resolve(_ reference: String) async throws -> ModelLocation {
        let location = try await resolveReference(reference)
        cache.save(location, for: reference)
        return location
    }

    /// The model `reference` resolved to the last time the server answered, from the cache
    /// alone (every file checked against its manifest): what start-up serves while the server is down.
    public func resolveFromCache(_ reference: String) async throws -> (ModelLocation, Date) {
        try cache.location(for: reference)
    }

    public func rememberDefault(_ reference: String, selection: String) {
        cache.saveDefault(reference, selection: selection)
    }

    public func cachedDefault(selection: String) -> String? {
        cache.defaultReference(selection: selection)
    }

    /// One small search (`registered-models/search`, one result): the server answers, or why not.
    public func probe() async throws {
        _ = try await client.get("registered-models/search", query: ["max_results": "1"], as: RegisteredModelsPage.self)
    }

    // MARK: - Catalog

    func run(id: String) async throws -> Run {
        guard SafePath.isIdentifier(id) else { throw ArtifactError(.invalidReference, "'\(MLflowStore.printable(id))' is not a valid MLflow run id") }
        let answer = try await client.get("runs/get", query: ["run_id": id], as: RunAnswer.self)
        runOutputs.withLock { $0[id] = (answer.run.outputs?.model_outputs ?? []).map(\.model_id) }
        let experimentId = answer.run.info.experiment_id
        var name = experimentNames.withLock { $0[experimentId] }
        if name == nil {
            struct ExperimentAnswer: Decodable { let experiment: RESTExperiment }
            name = try? await client.get("experiments/get", query: ["experiment_id": experimentId], as: ExperimentAnswer.self).experiment.name
            if let name { experimentNames.withLock { $0[experimentId] = name } }
        }
        return answer.run.run(experimentName: name ?? experimentId, folder: URL(fileURLWithPath: cache.root))
    }

    func modelVersion(name: String, version: Int) async throws -> ModelVersion {
        let answer = try await client.get("model-versions/get", query: ["name": name, "version": String(version)], as: ModelVersionAnswer.self)
        guard let found = answer.model_version.modelVersion() else {
            throw ModelSourceError.protocolError("version '\(answer.model_version.version)' of '\(name)' is not a number")
        }
        return found
    }

    func loggedModel(id: String) async throws -> LoggedModelRecord {
        guard SafePath.isIdentifier(id) else { throw ArtifactError(.invalidReference, "'\(MLflowStore.printable(id))' is not a logged model id") }
        return try await client.get("logged-models/\(id)", as: LoggedModelAnswer.self).record
    }

    func loggedModels(ofRun run: Run) async throws -> [LoggedModelRecord] {
        var ids = runOutputs.withLock { $0[run.id] }
        if ids == nil {
            _ = try await self.run(id: run.id)
            ids = runOutputs.withLock { $0[run.id] }
        }
        var out: [LoggedModelRecord] = []
        for id in ids ?? [] { out.append(try await loggedModel(id: id)) }
        return out.filter { $0.sourceRunId == run.id }.sorted { $0.creationTime > $1.creationTime }
    }

    func localArtifacts(of run: Run) async throws -> LocalFolder? {
        guard let uri = run.recordedArtifactURI else { return nil }
        return LocalFolder(path: try await download(uri: uri, kind: .runs, id: run.id), root: cache.root)
    }

    func localArtifacts(of model: LoggedModelRecord) async throws -> LocalFolder {
        guard let uri = model.artifactLocation else { throw ArtifactError(.notFound, "logged model \(model.id) has no artifact location") }
        return LocalFolder(path: try await download(uri: uri, kind: .models, id: model.id), root: cache.root)
    }

    // MARK: - Downloads

    /// `mlflow-artifacts:/1/<run>/artifacts` (or `mlflow-artifacts://host:port/...`) -> `1/<run>/artifacts`.
    static func proxyPath(_ uri: String) -> String? {
        guard uri.hasPrefix("mlflow-artifacts:"), let components = URLComponents(string: uri) else { return nil }
        let path = String(components.path.drop { $0 == "/" })
        return SafePath.isRelativeArtifactPath(path) ? path : nil
    }

    private func download(uri: String, kind: ArtifactCache.Kind, id: String) async throws -> String {
        if let folder = cache.verified(kind, id) { return folder }
        guard let remote = Self.proxyPath(uri) else {
            throw ModelSourceError.protocolError(
                "artifact location '\(MLflowStore.printable(uri))' is not behind the server's artifact proxy (start it with --serve-artifacts)")
        }
        let started = ContinuousClock.now
        let folder = try await cache.store(kind, id) { staging in
            try await self.fetch(remote, into: staging)
        }
        logger.info("downloaded artifacts", metadata: ["from": "\(remote)", "into": "\(folder)", "took": "\(ContinuousClock.now - started)"])
        return folder
    }

    /// Walks the server's listing of `remote` and downloads every file into `staging`. The
    /// listing is the server's word, so it is bounded like a download: each folder is listed once
    /// (a listing that names its own folder, or an earlier one, is refused, not walked again), at
    /// most `maximumDepth` deep and `maximumFiles` entries in all; each file may hold what the
    /// listing says (and what is left of `maximumBytes`), no more. The walk stops when the caller
    /// goes (a cancelled task).
    func fetch(_ remote: String, into staging: URL) async throws -> [ArtifactCache.Manifest.Entry] {
        var entries: [ArtifactCache.Manifest.Entry] = []
        var bytes = 0
        var listed = 0
        var visited: Set<String> = [""]
        var pending = [""]
        while let relative = pending.popLast() {
            try Task.checkCancellation()
            for entry in try await client.listArtifacts(relative.isEmpty ? remote : "\(remote)/\(relative)") {
                listed += 1
                guard listed <= Self.maximumFiles else {
                    throw ModelSourceError.protocolError("more than \(Self.maximumFiles) artifact files and folders listed under \(remote)")
                }
                let name = (entry.path as NSString).lastPathComponent
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                guard SafePath.isRelativeArtifactPath(path) else {
                    throw ModelSourceError.protocolError("the server listed an unsafe artifact path '\(MLflowStore.printable(path))'")
                }
                if entry.is_dir == true {
                    guard visited.insert(path).inserted else {
                        throw ModelSourceError.protocolError("the server listed the folder '\(MLflowStore.printable(path))' under \(remote) twice")
                    }
                    guard path.split(separator: "/").count <= Self.maximumDepth else {
                        throw ModelSourceError.protocolError("artifact folders under \(remote) nest deeper than \(Self.maximumDepth)")
                    }
                    try FileManager.default.createDirectory(at: staging.appendingPathComponent(path), withIntermediateDirectories: true)
                    pending.append(path)
                    continue
                }
                let left = maximumBytes - bytes
                let listedSize = entry.file_size.map { Int(clamping: $0.value) }
                let limit = min(left, listedSize ?? left)
                guard limit >= 0, (listedSize ?? 0) <= left else {
                    throw ModelSourceError.protocolError("artifacts under \(remote) exceed MODEL_MAX_ARTIFACT_BYTES (\(maximumBytes) bytes)")
                }
                let (size, sha256) = try await client.download("\(remote)/\(path)", to: staging.appendingPathComponent(path), limit: limit)
                if let listedSize, listedSize != size {
                    throw ModelSourceError.protocolError("\(remote)/\(path): \(size) bytes downloaded, the server listed \(listedSize)")
                }
                bytes += size
                entries.append(.init(path: path, size: size, sha256: sha256))
            }
        }
        return entries
    }
}
