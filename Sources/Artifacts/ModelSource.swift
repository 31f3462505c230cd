import Foundation

/// A read-only place MLflow keeps models: a file store (`MLflowStore`), MLflow's backend database,
/// or a tracking server. `MLFLOW_TRACKING_URI` picks one; the service only talks to this protocol.
///
/// Every source understands the same references (`ModelReference`), and `resolve` always ends
/// with the model's files on local disk (read in place, or downloaded into a cache), so
/// `HazardModel` loads them the same way whatever the source. A source never writes to MLflow.
public protocol ModelSource: Sendable {
    /// Where the models come from, for logs and messages (never credentials).
    var description: String { get }

    /// Every experiment, active and deleted.
    func experiments() async throws -> [Experiment]

    /// Runs of non-deleted experiments, newest first, `page.maxResults` at a time.
    func runs(page: PageRequest) async throws -> Page<Run>

    /// Registered models with their versions and aliases, by name.
    func registeredModels(page: PageRequest) async throws -> Page<RegisteredModel>

    /// The version an alias points at now (cheap: alias following asks this every few seconds).
    /// - Throws: `.notFound` when the model or alias does not exist.
    func aliasVersion(model: String, alias: String) async throws -> Int

    /// The model a reference names, with its files on local disk.
    /// - Throws: `ArtifactError` (`.invalidReference`, `.notFound`, ...) or the source's own
    ///   error when it cannot be reached.
    func resolve(_ reference: String) async throws -> ModelLocation

    /// Whether `run` has a model this service can load, checked without downloading anything;
    /// nil when that cannot be known without a download.
    func servability(of run: Run) async -> Servability?

    /// Releases connections (database, HTTP client). The source is not used afterwards.
    func close() async

    /// Reaches the source once, cheaply (start-up tries it within `STARTUP_TIMEOUT_SECONDS`).
    /// - Throws: the source's own error when it cannot be reached.
    func probe() async throws
}

extension ModelSource {
    public func close() async {}
    public func probe() async throws {}
}

/// A source that keeps what it resolved on local disk (`MODEL_CACHE_DIR`), so a model it served
/// before can serve again while it cannot be reached.
public protocol CachingModelSource: ModelSource {
    /// The model `reference` resolved to the last time the source answered, from the cache alone,
    /// and when that was. - Throws: `.notFound` when the cache does not hold it.
    func resolveFromCache(_ reference: String) async throws -> (ModelLocation, Date)
    /// Remembers what the default selection (`selection` names its rule) chose.
    func rememberDefault(_ reference: String, selection: String)
    /// What the default selection with this rule chose the last time the source answered.
    func cachedDefault(selection: String) -> String?
}

/// What `GET /models` says about a run's model.
public struct Servability: Sendable {
    public let modelURI: String?
    public let modelFormat: String?
    public let servable: Bool
    public let reason: String?

    public init(modelURI: String?, modelFormat: String?, servable: Bool, reason: String?) {
        self.modelURI = modelURI
        self.modelFormat = modelFormat
        self.servable = servable
        self.reason = reason
    }

    /// Resolves `runs:/<id>` and reports what it found.
    public static func check(_ resolve: () throws -> ModelLocation, runId: String) -> Servability {
        do {
            let location = try resolve()
            return Servability(
                modelURI: "runs:/\(runId)", modelFormat: location.mlmodel.xgboost?.modelFormat,
                servable: location.scalerFile != nil, reason: location.scalerFile == nil ? "no scaler artifact" : nil)
        } catch {
            return Servability(modelURI: nil, modelFormat: nil, servable: false, reason: "\(error)")
        }
    }
}

/// One page of a listing: at most `maxResults` items after `token` (opaque, from the previous page).
public struct PageRequest: Sendable, Equatable {
    public static let largest = 1000
    public let maxResults: Int
    public let token: String?

    public init(maxResults: Int = 100, token: String? = nil) {
        self.maxResults = max(1, min(maxResults, Self.largest))
        self.token = token
    }

    /// Offset-based tokens for sources that list from one ordered table or folder.
    public var offset: Int { token.flatMap(Int.init).map { max(0, $0) } ?? 0 }
}

public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    /// Nil on the last page.
    public let nextToken: String?

    public init(items: [Item], nextToken: String?) {
        self.items = items
        self.nextToken = nextToken
    }

    /// The page of `all` that `page` asks for, with an offset token.
    public init(slicing all: [Item], page: PageRequest) {
        let start = min(page.offset, all.count)
        let end = min(start + page.maxResults, all.count)
        self.items = Array(all[start..<end])
        self.nextToken = end < all.count ? String(end) : nil
    }
}

/// A model reference, as every source reads it.
public enum ModelReference: Sendable, Equatable {
    /// A bare run id, or `runs:/<run_id>[/<artifact path>]`.
    case run(id: String, artifactPath: String?)
    /// `models:/<name>/<version>`.
    case version(name: String, version: Int)
    /// `models:/<name>@<alias>`.
    case alias(name: String, alias: String)
    /// MLflow 3's `models:/m-<id>`.
    case loggedModel(id: String)

    /// Parses and validates a reference (identifiers and paths that could escape a root are refused).
    /// - Throws: `.invalidReference`.
    public init(parsing text: String) throws {
        let reference = text.trimmingCharacters(in: .whitespaces)
        func invalid(_ message: String) -> ArtifactError { ArtifactError(.invalidReference, message) }
        if reference.hasPrefix("runs:/") {
            let parts = reference.dropFirst("runs:/".count).split(separator: "/", maxSplits: 1).map(String.init)
            guard let id = parts.first, SafePath.isIdentifier(id) else {
                throw invalid("'\(MLflowStore.printable(reference))' names no valid run id")
            }
            let path = parts.count > 1 ? parts[1] : nil
            if let path, !SafePath.isRelativeArtifactPath(path) {
                throw invalid("artifact path '\(MLflowStore.printable(path))' must be relative and stay inside the run")
            }
            self = .run(id: id, artifactPath: path)
        } else if reference.hasPrefix("models:/") {
            let rest = String(reference.dropFirst("models:/".count))
            if rest.hasPrefix("m-"), SafePath.isIdentifier(rest) {
                self = .loggedModel(id: rest)
            } else if let at = rest.lastIndex(of: "@") {
                let name = String(rest[..<at]), alias = String(rest[rest.index(after: at)...])
                guard SafePath.isModelName(name) else { throw invalid("'\(MLflowStore.printable(name))' is not a valid registered model name") }
                guard SafePath.isIdentifier(alias) else { throw invalid("'\(MLflowStore.printable(alias))' is not a valid alias") }
                self = .alias(name: name, alias: alias)
            } else if let slash = rest.lastIndex(of: "/") {
                let name = String(rest[..<slash]), selector = String(rest[rest.index(after: slash)...])
                guard SafePath.isModelName(name) else { throw invalid("'\(MLflowStore.printable(name))' is not a valid registered model name") }
                guard let number = Int(selector), number > 0 else {
                    throw invalid("'\(MLflowStore.printable(selector))' is not a model version number")
                }
                self = .version(name: name, version: number)
            } else {
                throw invalid("'\(MLflowStore.printable(reference))' must be models:/<name>/<version>, models:/<name>@<alias> or models:/m-<id>")
            }
        } else {
            guard SafePath.isIdentifier(reference) else {
                throw invalid("'\(MLflowStore.printable(reference))' is not a valid MLflow run id")
            }
            self = .run(id: reference, artifactPath: nil)
        }
    }
}
