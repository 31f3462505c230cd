import AnomalyDetection
import Artifacts
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle

/// Builds the whole application: the executable and the tests call this same function.
///
/// Loads the model to serve before returning, so a configured run that cannot load stops
/// start-up with its reason; so does a configuration that would expose the service
/// (`Configuration.checkExposure`) or a TLS certificate that cannot be read.
public func buildApplication(configuration: Configuration, logger: Logger? = nil) async throws -> some ApplicationProtocol {
    var logger = logger ?? Logger(label: "inference-api")
    logger.logLevel = configuration.logLevel
    try configuration.checkExposure()
    if configuration.developmentMode {
        logger.warning(
            "DEVELOPMENT MODE: no credentials are configured (API_KEYS, AUTH_USERNAME/AUTH_PASSWORD, JWT_SECRET), so every request is allowed; only loopback may be bound"
        )
    }

    let telemetry = Telemetry()
    let store = try MLflowStore(root: URL(fileURLWithPath: configuration.mlrunsDirectory))
    let models = ModelService(
        store: store, configuredReference: configuration.modelReference, selectMetric: configuration.modelSelectMetric, telemetry: telemetry)
    let reference = try models.startupReference()
    let model = try models.activate(reference)
    logger.info(
        "serving model",
        metadata: [
            "reference": "\(reference)", "run_id": "\(model.runId)",
            "experiment": "\(model.location.run.experimentName)",
            "load_ms": "\(Int(model.loadSeconds * 1000))",
        ])

    let server = try serverBuilder(configuration)
    let storage = try await StoreSetup.open(configuration, logger: logger)
    let audit = ActivationAudit(store: storage.store, logger: logger)
    let router = await buildRouter(configuration: configuration, models: models, store: storage.store, telemetry: telemetry, logger: logger)
    let reloader = ReloadOnHangup(models: models, audit: audit, logger: logger)

    let scheme = configuration.tlsCertificateFile == nil ? "http" : "https"
    let startupLogger = logger
    var app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "inference-api"),
        services: [reloader] + storage.services,
        onServerRunning: { channel in
            let port = channel.localAddress?.port.map(String.init) ?? String(configuration.port)
            startupLogger.notice("listening on \(scheme)://\(configuration.host):\(port) serving run \(model.runId) (\(reference))")
        },
        logger: logger
    )
    app.beforeServerStarts {
        try await storage.migrate()
        await audit.record(model, reason: "start-up")
    }
    return app
}

/// Runs `app` until SIGTERM or SIGINT, then shuts down gracefully: the server stops accepting,
/// requests in flight finish (for at most `SHUTDOWN_GRACE_SECONDS`), and only then are the
/// application's services (the PostgreSQL pool, the SQLite connection) closed.
public func runApplication(_ app: some ApplicationProtocol & Service, configuration: Configuration, logger: Logger) async throws {
    var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    group.maximumGracefulShutdownDuration = .seconds(configuration.shutdownGraceSeconds)
    group.maximumCancellationDuration = .seconds(5)
    try await ServiceGroup(configuration: group).run()
    logger.notice("stopped")
}

/// Plain HTTP/1.1, or TLS when `TLS_CERT_FILE` and `TLS_KEY_FILE` are set.
func serverBuilder(_ configuration: Configuration) throws -> HTTPServerBuilder {
    guard let certificateFile = configuration.tlsCertificateFile, let keyFile = configuration.tlsKeyFile else { return .http1() }
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    do {
        chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
    } catch {
        throw ConfigurationError(variable: "TLS_CERT_FILE", message: "is not a readable PEM certificate (\(certificateFile))")
    }
    do {
        key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
    } catch {
        throw ConfigurationError(variable: "TLS_KEY_FILE", message: "is not a readable PEM private key (\(keyFile))")
    }
    guard !chain.isEmpty else {
        throw ConfigurationError(variable: "TLS_CERT_FILE", message: "holds no certificate (\(certificateFile))")
    }
    let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    return try .tls(.http1(), tlsConfiguration: tls)
}

/// Every route of the service, on one router: the application and the route-coverage test use it.
func buildRouter(
    configuration: Configuration, models: ModelService, store: (any AnomalyStore)?, telemetry: Telemetry = Telemetry(),
    logger: Logger = Logger(label: "inference-api")
) async -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let routes = RouteTable()
    let authenticator = await Authenticator(configuration: configuration)
    let drift = DriftMonitor(window: configuration.driftWindow, threshold: configuration.driftThreshold)

    // Outermost first: the request id is on every log line and answer; metrics see final statuses;
    // errors become the envelope; CORS answers preflights before credentials are asked for.
    router.middlewares.add(RequestIDMiddleware())
    router.middlewares.add(MetricsMiddleware(routes: routes, telemetry: telemetry))
    router.middlewares.add(ErrorEnvelopeMiddleware(routes: routes, telemetry: telemetry))
    if !configuration.corsOrigins.isEmpty {
        router.middlewares.add(CORSMiddleware(origins: configuration.corsOrigins))
    }
    router.middlewares.add(
        AccessMiddleware(
            routes: routes, policy: AccessPolicy(metricsNeedCredentials: configuration.metricsAuth), authenticator: authenticator,
            limiter: RateLimiter(perMinute: configuration.rateLimitPerMinute, routes: configuration.rateLimitRoutes), telemetry: telemetry))

    HealthController(models: models, store: store).addRoutes(to: router)
    AuthController(authenticator: authenticator).addRoutes(to: router)
    MonitoringController(telemetry: telemetry, drift: drift, models: models).addRoutes(to: router)
    ModelsController(models: models, threshold: configuration.hazardThreshold, audit: ActivationAudit(store: store, logger: logger))
        .addRoutes(to: router)
    let predictions = PredictionService(models: models, threshold: configuration.hazardThreshold, telemetry: telemetry, drift: drift)
    OpenInferenceController(
        models: models, predictions: predictions, maxReadings: configuration.maxReadingsPerRequest,
        maxBodyBytes: configuration.maxBodyBytes
    ).addRoutes(to: router)
    if let store {
        AnomalyController(
            service: AnomalyService(store: store, threshold: configuration.anomalyThreshold, minTrainingSamples: configuration.minTrainingSamples),
            maxSamples: configuration.maxSamplesPerRequest, maxBodyBytes: configuration.maxBodyBytes, telemetry: telemetry
        ).addRoutes(to: router)
        FeedbackController(
            models: models, store: store, threshold: configuration.hazardThreshold, maxReadings: configuration.maxReadingsPerRequest,
            maxBodyBytes: configuration.maxBodyBytes
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
    for pattern in configuration.rateLimitRoutes.keys where !routes.all.contains(where: { $0.pattern == pattern }) {
        logger.warning("RATE_LIMIT_ROUTES names a route the service does not have", metadata: ["route": "\(pattern)"])
    }
    return router
}
