import AnomalyDetection
import Artifacts
import Foundation
import Hummingbird
import Logging

/// Builds the whole application: the executable and the tests call this same function.
///
/// Loads the model to serve before returning, so a configured run that cannot load stops
/// start-up with its reason.
public func buildApplication(configuration: Configuration, logger: Logger? = nil) async throws -> some ApplicationProtocol {
    var logger = logger ?? Logger(label: "inference-api")
    logger.logLevel = configuration.logLevel

    let store = try MLflowStore(root: URL(fileURLWithPath: configuration.mlrunsDirectory))
    let models = ModelService(
        store: store, configuredReference: configuration.modelReference, selectMetric: configuration.modelSelectMetric)
    let reference = try models.startupReference()
    let model = try models.activate(reference)
    logger.info(
        "serving model",
        metadata: [
            "reference": "\(reference)", "run_id": "\(model.runId)",
            "experiment": "\(model.location.run.experimentName)",
            "load_ms": "\(Int(model.loadSeconds * 1000))",
        ])

    let storage = try await StoreSetup.open(configuration, logger: logger)
    let audit = ActivationAudit(store: storage.store, logger: logger)
    let router = buildRouter(configuration: configuration, models: models, store: storage.store)
    let reloader = ReloadOnHangup(models: models, audit: audit, logger: logger)

    let address = "\(configuration.host):\(configuration.port)"
    let startupLogger = logger
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "inference-api"),
        services: [reloader] + storage.services,
        onServerRunning: { channel in
            let bound = channel.localAddress?.port.map { "\(configuration.host):\($0)" } ?? address
            startupLogger.notice("listening on http://\(bound) serving run \(model.runId) (\(reference))")
        },
        logger: logger
    )
    app.beforeServerStarts {
        try await storage.migrate()
        await audit.record(model, reason: "start-up")
    }
    return app
}

/// Every route of the service, on one router: the application and the route-coverage test use it.
func buildRouter(configuration: Configuration, models: ModelService, store: (any AnomalyStore)?) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.middlewares.add(RequestIDMiddleware())
    let routes = RouteTable()
    router.middlewares.add(ErrorEnvelopeMiddleware(routes: routes))
    HealthController(models: models, store: store).addRoutes(to: router)
    ModelsController(
        models: models, threshold: configuration.hazardThreshold, audit: ActivationAudit(store: store, logger: Logger(label: "inference-api"))
    ).addRoutes(to: router)
    let predictions = PredictionService(models: models, threshold: configuration.hazardThreshold)
    OpenInferenceController(
        models: models, predictions: predictions, maxReadings: configuration.maxReadingsPerRequest,
        maxBodyBytes: configuration.maxBodyBytes
    ).addRoutes(to: router)
    if let store {
        AnomalyController(
            service: AnomalyService(store: store, threshold: configuration.anomalyThreshold, minTrainingSamples: configuration.minTrainingSamples),
            maxSamples: configuration.maxSamplesPerRequest, maxBodyBytes: configuration.maxBodyBytes
        ).addRoutes(to: router)
    }
    PredictController(
        models: models,
        predictions: predictions,
        maxReadings: configuration.maxReadingsPerRequest,
        maxBodyBytes: configuration.maxBodyBytes,
        missingValues: configuration.missingValues.decoderPolicy
    ).addRoutes(to: router)

    routes.load(router.routes.map { (method: $0.method.rawValue, path: $0.path.description) })
    return router
}
