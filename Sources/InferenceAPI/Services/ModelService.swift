import Artifacts
import ComputeSupport
import Foundation
import Logging
import ModelSources
import Synchronization

/// Owns the served `HazardModel` and swaps it atomically.
///
/// Requests take a reference to the current model once and finish on it, so a swap never
/// changes the model under a request in flight. Loading happens off to the side; a failed load
/// leaves the current model serving.
public final class ModelService: Sendable {
    /// Where models come from (`MLFLOW_TRACKING_URI`: a file store, MLflow's database, a tracking server).
    public let source: any ModelSource
    private let configuredReference: String?
    private let selectMetric: String
    private let predictor: PredictorChoice
    private let logger: Logger
    private let current: Mutex<HazardModel?>
    private let traffic = Mutex(Traffic())
    private let refusal = Mutex<Refusal?>(nil)
    private let fromCache = Mutex<CachedServing?>(nil)

    /// What the served models have done since start-up, for `/model-health`.
    public struct Traffic: Sendable {
        public var requests = 0
        public var readings = 0
        public var hazardous = 0
        public var failures = 0
        public var swaps = 0
        public var lastPredictionAt: Date?
    }

    /// An alias target the service would not serve, and why (`GET /models/active`).
    public struct Refusal: Sendable, Equatable {
        /// The followed reference (`models:/battery-hazard@champion`).
        public let reference: String
        /// What it pointed at (`models:/battery-hazard/3`).
        public let target: String
        public let version: Int
        public let reason: String
        public let at: Date
    }

    /// Counts swaps and failures and names the served run in `model_info`.
    let telemetry: Telemetry?

    public init(
        source: any ModelSource, configuredReference: String?, selectMetric: String, predictor: PredictorChoice = .auto,
        telemetry: Telemetry? = nil, logger: Logger = Logger(label: "inference-api")
    ) {
        self.telemetry = telemetry
        self.predictor = predictor
        self.logger = logger
        self.source = source
        self.configuredReference = configuredReference
        self.selectMetric = selectMetric
        self.current = Mutex(nil)
    }

    /// A file store (`mlruns/`) as the source.
    public convenience init(
        store: MLflowStore, configuredReference: String?, selectMetric: String, predictor: PredictorChoice = .auto,
        telemetry: Telemetry? = nil, logger: Logger = Logger(label: "inference-api")
    ) {
        self.init(
            source: FileStoreSource(store: store), configuredReference: configuredReference, selectMetric: selectMetric,
            predictor: predictor, telemetry: telemetry, logger: logger)
    }

    /// The model serving now, if any.
    public var active: HazardModel? { current.withLock { $0 } }

    /// The configured reference, if any (`MODEL_URI` / `BEST_MLFLOW_RUN_ID`).
    public var configured: String? { configuredReference }

    /// The reference start-up (and SIGHUP) should serve: the configured one, else the default.
    public func startupReference() async throws -> String {
        if let configuredReference { return configuredReference }
        if let reference = try await ModelSelection.defaultReference(in: source, metric: selectMetric) { return reference }
        throw ArtifactError(
            .notFound,
            "no servable run in \(source.description): set BEST_MLFLOW_RUN_ID or MODEL_URI, or register a model with alias 'champion'")
    }

    /// A model served from the source's cache because the source could not be reached
    /// (`GET /models/active`, `/ready`), until a model is activated from the source again.
    public struct CachedServing: Sendable, Equatable {
        public let reference: String
        /// When the source last answered for it (when the cached copy was made or checked).
        public let cachedAt: Date
        public let reason: String
    }

    /// Set while the serving model came from the cache rather than the source.
    public var servedFromCache: CachedServing? { fromCache.withLock { $0 } }

    /// The default selection's rule, as the cache records it next to what it chose.
    private var defaultSelection: String { "alias champion, else the best finished run by \(selectMetric)" }

    /// Start-up: reaches the source within `timeout`, then resolves and activates the start-up
    /// reference (what the default selection chose is remembered in a caching source's cache).
    /// When the source cannot be reached and its cache holds the model the reference resolved to
    /// the last time (checked against its manifest), the cached copy serves and a warning says so.
    /// - Throws: `ModelSourceError.unreachable` when the source cannot be reached and the cache
    ///   cannot stand in; the load error otherwise.
    public func activateAtStartup(reachWithin timeout: Duration = .seconds(15)) async throws -> (model: HazardModel, reference: String) {
        do {
            let source = self.source
            do {
                try await Deadline.run(timeout) { try await source.probe() }
            } catch is DeadlineExceeded {
                throw ModelSourceError.unreachable("\(source.description) cannot be reached: no answer within \(timeout)")
            }
            let reference = try await startupReference()
            let model = try await activate(reference)
            if configuredReference == nil, let caching = source as? any CachingModelSource {
                caching.rememberDefault(reference, selection: defaultSelection)
            }
            return (model, reference)
        } catch let error as ModelSourceError {
            guard case .unreachable = error else { throw error }
            return try await activateFromCache(because: error)
        }
    }

    private func activateFromCache(because error: ModelSourceError) async throws -> (model: HazardModel, reference: String) {
        guard let caching = source as? any CachingModelSource else { throw error }
        guard let reference = configuredReference ?? caching.cachedDefault(selection: defaultSelection) else {
            throw ModelSourceError.unreachable("\(error); MODEL_CACHE_DIR holds no model from an earlier start to serve instead")
        }
        let location: ModelLocation, savedAt: Date
        do {
            (location, savedAt) = try await caching.resolveFromCache(reference)
        } catch let cacheError as ArtifactError {
            throw ModelSourceError.unreachable("\(error); and from MODEL_CACHE_DIR: \(cacheError.message)")
        }
        let model = try await load(location)
        logger.warning(
            "the model source cannot be reached; serving the cached model",
            metadata: [
                "reference": "\(reference)", "run_id": "\(model.runId)", "cached_at": "\(ModelInfo.timestamp(savedAt))",
                "reason": "\(error)",
            ])
        install(model, fromCache: CachedServing(reference: reference, cachedAt: savedAt, reason: error.description))
        return (model, reference)
    }

    /// Loads `reference` and, if every check passes, makes it the active model.
    /// - Returns: the new model. - Throws: the load error; the previous model keeps serving.
    @discardableResult
    public func activate(_ reference: String) async throws -> HazardModel {
        let model = try await load(reference)
        install(model)
        return model
    }

    /// Resolves, loads and checks `reference` without serving it (the fleet records it first).
    /// A failure is counted; the active model is untouched either way.
    public func load(_ reference: String) async throws -> HazardModel {
        do {
            return try await load(try await source.resolve(reference))
        } catch {
            telemetry?.modelActivationFailed()
            throw error
        }
    }

    private func load(_ location: ModelLocation) async throws -> HazardModel {
        let predictor = self.predictor, logger = self.logger
        return try await Offload.run(.blocking) { try HazardModel(location: location, predictor: predictor, logger: logger) }
    }

    /// Makes a loaded model the active one; requests in flight finish on the one they took.
    public func install(_ model: HazardModel) {
        install(model, fromCache: nil)
    }

    private func install(_ model: HazardModel, fromCache cached: CachedServing?) {
        fromCache.withLock { $0 = cached }
        telemetry?.modelActivated(model)
        let replaced = current.withLock { previous in
            defer { previous = model }
            return previous != nil
        }
        if replaced { traffic.withLock { $0.swaps += 1 } }
    }

    public var trafficSnapshot: Traffic { traffic.withLock { $0 } }

    /// The alias target last refused, until the alias moves on or a model is served from it.
    public var refused: Refusal? { refusal.withLock { $0 } }

    func setRefusal(_ value: Refusal?) { refusal.withLock { $0 = value } }

    func record(readings: Int, hazardous: Int) {
        traffic.withLock {
            $0.requests += 1
            $0.readings += readings
            $0.hazardous += hazardous
            $0.lastPredictionAt = Date()
        }
    }

    func recordFailure() {
        traffic.withLock { $0.failures += 1 }
    }
}
