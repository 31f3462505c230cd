import Artifacts
import Foundation
import Logging
import Synchronization

/// Owns the served `HazardModel` and swaps it atomically.
///
/// Requests take a reference to the current model once and finish on it, so a swap never
/// changes the model under a request in flight. Loading happens off to the side; a failed load
/// leaves the current model serving.
public final class ModelService: Sendable {
    public let store: MLflowStore
    private let configuredReference: String?
    private let selectMetric: String
    private let predictor: PredictorChoice
    private let logger: Logger
    private let current: Mutex<HazardModel?>
    private let traffic = Mutex(Traffic())

    /// What the served models have done since start-up, for `/model-health`.
    public struct Traffic: Sendable {
        public var requests = 0
        public var readings = 0
        public var hazardous = 0
        public var failures = 0
        public var swaps = 0
        public var lastPredictionAt: Date?
    }

    /// Counts swaps and failures and names the served run in `model_info`.
    let telemetry: Telemetry?

    public init(
        store: MLflowStore, configuredReference: String?, selectMetric: String, predictor: PredictorChoice = .auto, telemetry: Telemetry? = nil,
        logger: Logger = Logger(label: "inference-api")
    ) {
        self.telemetry = telemetry
        self.predictor = predictor
        self.logger = logger
        self.store = store
        self.configuredReference = configuredReference
        self.selectMetric = selectMetric
        self.current = Mutex(nil)
    }

    /// The model serving now, if any.
    public var active: HazardModel? { current.withLock { $0 } }

    /// The reference start-up (and SIGHUP) should serve: the configured one, else the default.
    public func startupReference() throws -> String {
        if let configuredReference { return configuredReference }
        if let reference = try ModelSelection.defaultReference(in: store, metric: selectMetric) { return reference }
        throw ArtifactError(
            .notFound,
            "no servable run in \(store.root.path): set BEST_MLFLOW_RUN_ID or MODEL_URI, or register a model with alias 'champion'")
    }

    /// Loads `reference` and, if every check passes, makes it the active model.
    /// - Returns: the new model. - Throws: the load error; the previous model keeps serving.
    @discardableResult
    public func activate(_ reference: String) throws -> HazardModel {
        let model = try load(reference)
        install(model)
        return model
    }

    /// Loads and checks `reference` without serving it (the fleet records it first).
    public func load(_ reference: String) throws -> HazardModel {
        do {
            return try HazardModel.load(from: store, reference: reference, predictor: predictor, logger: logger)
        } catch {
            telemetry?.modelActivationFailed()
            throw error
        }
    }

    /// Makes a loaded model the active one; requests in flight finish on the one they took.
    public func install(_ model: HazardModel) {
        telemetry?.modelActivated(model)
        let replaced = current.withLock { previous in
            defer { previous = model }
            return previous != nil
        }
        if replaced { traffic.withLock { $0.swaps += 1 } }
    }

    public var trafficSnapshot: Traffic { traffic.withLock { $0 } }

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
