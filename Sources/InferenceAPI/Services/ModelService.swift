import Artifacts
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

    /// Start-up: resolves and activates the start-up reference. When a tracking server cannot be
    /// reached and the reference was downloaded before, the cached copy (checked against its
    /// manifest) serves, and a warning says so.
    public func activateAtStartup() async throws -> (model: HazardModel, reference: String) {
        let reference: String
        do {
            reference = try await startupReference()
            return (try await activate(reference), reference)
        } catch let error as ModelSourceError {
            guard case .unreachable = error, let server = source as? TrackingServerSource, let configuredReference else { throw error }
            let (location, savedAt) = try await server.resolveFromCache(configuredReference)
            let model = try await load(location)
            logger.warning(
                "the tracking server cannot be reached; serving the cached model",
                metadata: [
                    "reference": "\(configuredReference)", "run_id": "\(model.runId)", "cached_at": "\(ModelInfo.timestamp(savedAt))",
                    "reason": "\(error)",
                ])
            install(model)
            return (model, configuredReference)
        }
    }

    /// Loads `reference` and, if every check passes, makes it the active model.
    /// - Returns: the new model. - Throws: the load error; the previous model keeps serving.
    @discardableResult
    public func activate(_ reference: String) async throws -> HazardModel {
        let model: HazardModel
        do {
            model = try await load(try await source.resolve(reference))
        } catch {
            telemetry?.modelActivationFailed()
            throw error
        }
        install(model)
        return model
    }

    private func load(_ location: ModelLocation) async throws -> HazardModel {
        let predictor = self.predictor, logger = self.logger
        return try await Offload.run(.blocking) { try HazardModel(location: location, predictor: predictor, logger: logger) }
    }

    private func install(_ model: HazardModel) {
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
