import AnomalyDetection
import Artifacts
import EMSCore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ModelSources
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
    var sourceSettings = configuration.modelSource
    sourceSettings.mlrunsDirectory = configuration.mlrunsDirectory
    let source = try await ModelSources.open(sourceSettings, logger: logger)
    let models = ModelService(
        source: source, configuredReference: configuration.modelReference, selectMetric: configuration.modelSelectMetric,
        predictor: configuration.predictor, telemetry: telemetry, logger: logger)
    let model: HazardModel, reference: String
    do {
        (model, reference) = try await models.activateAtStartup()
    } catch {
        await source.close()
        throw error
    }
    logger.info(
        "serving model",
        metadata: [
            "source": "\(source.description)", "reference": "\(reference)", "run_id": "\(model.runId)",
            "experiment": "\(model.location.run.experimentName)",
            "load_ms": "\(Int(model.loadSeconds * 1000))",
        ])

    let server = try serverBuilder(configuration, connections: telemetry.connections)
    let storage = try await StoreSetup.open(configuration, logger: logger)
    let audit = ActivationAudit(log: storage.stores.audit, logger: logger)
    var delivery = configuration.delivery
    // SQLite is one process's own: whatever it had claimed when it stopped is free again.
    delivery.releaseLeasesAtStart = configuration.databaseURL == nil
    let deliverer = configuration.emsCore.map { endpoint in
        OutboxDeliverer(
            outbox: storage.stores.outbox, client: EMSCoreClient(endpoint: endpoint), settings: delivery, observer: telemetry, logger: logger)
    }
    if configuration.emsCore == nil {
        logger.info("EMS Core integration is off (EMS_CORE_URL is not set): episodes are recorded, nothing is sent")
    }
    let assetModels = AssetModelCache(budgetBytes: configuration.anomalyModelCacheBytes, telemetry: telemetry)
    let fleet = FleetCoordinator(
        identity: FleetCoordinator.identity(configured: configuration.replicaId), store: storage.stores.fleet, models: models, logger: logger,
        assetModelChanged: { tenantId, assetId in assetModels.invalidate(tenantId: tenantId, assetId: assetId) })
    let router = await buildRouter(
        configuration: configuration, models: models, stores: storage.stores, fleet: fleet, assetModels: assetModels, telemetry: telemetry,
        deliverer: deliverer, logger: logger)
    let reloader = ReloadOnHangup(models: models, fleet: fleet, audit: audit, logger: logger)
    let fleetService = FleetService(coordinator: fleet, interval: .seconds(configuration.fleetPollSeconds))
    // A moved alias is served through the fleet's state, so every replica swaps to it.
    let follower = AliasFollower.make(
        models: models, refreshSeconds: configuration.modelRefreshSeconds, audit: audit, telemetry: telemetry, logger: logger,
        publish: { model, reason in _ = try await fleet.publish(model, reference: models.configured ?? model.runId, reason: reason) })
    let closer = SourceCloser(source: source)

    let scheme = configuration.tlsCertificateFile == nil ? "http" : "https"
    let startupLogger = logger
    var app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "inference-api"),
        services: storage.services + [reloader, fleetService, closer] as [any Service] + (follower.map { [$0] } ?? [])
            + (deliverer.map { [$0] } ?? []),
        onServerRunning: { channel in
            let port = channel.localAddress?.port.map(String.init) ?? String(configuration.port)
            startupLogger.notice("listening on \(scheme)://\(configuration.host):\(port) serving run \(model.runId) (\(reference))")
        },
        logger: logger
    )
    app.beforeServerStarts {
        try await storage.migrate()
        deliverer?.open()
        await audit.record(model, reason: "start-up")
        // Before the server accepts anything: a replica joining a fleet serves the fleet's model.
        await fleet.start(loaded: model, reference: reference)
    }
    return app
}

/// Runs `app` until SIGTERM or SIGINT, then shuts down gracefully: the server stops accepting,
/// requests in flight finish (for at most `SHUTDOWN_GRACE_SECONDS`), and only then are the
/// application's services (the PostgreSQL pool, the SQLite connection) closed.
public func runApplication(_ app: some ApplicationProtocol & Service, configuration: Configuration, logger: Logger) async throws {
    #if canImport(Glibc)
    ConnectionLimits(configuration: configuration).raiseFileLimit(logger: logger)
    #endif
    var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    group.maximumGracefulShutdownDuration = .seconds(configuration.shutdownGraceSeconds)
    group.maximumCancellationDuration = .seconds(5)
    try await ServiceGroup(configuration: group).run()
    logger.notice("stopped")
}

/// Plain HTTP/1.1, or TLS when `TLS_CERT_FILE` and `TLS_KEY_FILE` are set; either way under the
/// connection limits (`ConnectionLimits`).
func serverBuilder(_ configuration: Configuration, connections: ConnectionCounters) throws -> HTTPServerBuilder {
    let http1 = HTTPServerBuilder.guardedHTTP1(limits: ConnectionLimits(configuration: configuration), counters: connections)
    guard let certificateFile = configuration.tlsCertificateFile, let keyFile = configuration.tlsKeyFile else { return http1 }
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
    return try .tls(http1, tlsConfiguration: tls)
}

/// Every route of the service, on one router: the application and the route tests use it.
///
/// Each controller mounts its routes on its prefix group and declares there what they need
/// (`RouteAccess`); a route declared without it is a probe. Router-wide middleware sees the
/// matched route (`context.endpointPath`), so nothing matches paths a second time.
func buildRouter(
    configuration: Configuration, models: ModelService, stores: Stores, fleet: FleetCoordinator? = nil, assetModels: AssetModelCache? = nil,
    telemetry: Telemetry = Telemetry(), deliverer: OutboxDeliverer? = nil, logger: Logger = Logger(label: "inference-api")
) async -> Router<AppRequestContext> {
    let fleet =
        fleet
        ?? FleetCoordinator(identity: FleetCoordinator.identity(configured: configuration.replicaId), store: stores.fleet, models: models, logger: logger)
    let router = Router(context: AppRequestContext.self)
    let allowed = AllowedMethods()
    let access = AccessRules(
        limiter: RateLimiter(perMinute: configuration.rateLimitPerMinute, routes: configuration.rateLimitRoutes), telemetry: telemetry)
    let drift = DriftMonitor(window: configuration.driftWindow, threshold: configuration.driftThreshold)

    // Outermost first: the request id is on every log line and answer; metrics see final statuses;
    // errors become the envelope; CORS answers preflights before credentials are looked at.
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ResponseHeadersMiddleware())
    router.add(middleware: MetricsMiddleware(telemetry: telemetry))
    router.add(middleware: ErrorEnvelopeMiddleware(allowed: allowed, telemetry: telemetry))
    if configuration.developmentMode {
        router.add(middleware: LoopbackHostMiddleware())
    }
    if !configuration.corsOrigins.isEmpty {
        router.add(middleware: CORSMiddleware(origins: configuration.corsOrigins))
    }
    let authenticator = await Authenticator(configuration: configuration, loginFailures: stores.loginFailures)
    router.add(middleware: AuthenticationMiddleware(authenticator: authenticator, proxies: configuration.trustedProxies))

    let predictions = PredictionService(
        models: models, threshold: configuration.hazardThreshold, maxReadings: configuration.maxReadingsPerRequest,
        missingValues: configuration.missingValues.decoderPolicy, telemetry: telemetry, drift: drift)
    let feedback = FeedbackService(
        models: models, store: stores.feedback, threshold: configuration.hazardThreshold, maxReadings: configuration.maxReadingsPerRequest)
    var anomalies = AnomalyService(
        store: stores.anomalies, threshold: configuration.anomalyThreshold, minTrainingSamples: configuration.minTrainingSamples,
        cache: assetModels ?? AssetModelCache(budgetBytes: configuration.anomalyModelCacheBytes, telemetry: telemetry))
    anomalies.episodes = configuration.episodes
    anomalies.episodes.outbox = configuration.emsCore != nil
    if let deliverer { anomalies.onEpisodeChanges = { deliverer.nudge() } }
    if let endpoint = configuration.emsCore {
        let client = EMSCoreClient(endpoint: endpoint)
        anomalies.emsMetrics = { asset, from, to in try await client.metrics(assetId: asset, from: from, to: to) }
    }
    let maxBody = configuration.maxBodyBytes
    let idempotency = Idempotency(store: stores.receipts, retentionHours: configuration.idempotencyKeyHours, telemetry: telemetry)

    var health = HealthController(models: models, database: stores.database, fleet: fleet)
    if let deliverer { health.emsBreaker = { deliverer.breakerState } }
    health.addRoutes(to: router.group(), access: access)
    AuthController(authenticator: authenticator).addRoutes(to: router.group("auth"), access: access)
    MonitoringController(telemetry: telemetry, drift: drift, models: models, metricsNeedCredentials: configuration.metricsAuth)
        .addRoutes(to: router.group(), access: access)
    var hazards: HazardEpisodes?
    if configuration.hazardEpisodes {
        var policy = configuration.episodes
        policy.outbox = configuration.emsCore != nil
        var nudge: (@Sendable () -> Void)?
        if let deliverer { nudge = { deliverer.nudge() } }
        hazards = HazardEpisodes(store: stores.episodes, policy: policy, threshold: configuration.hazardThreshold, onChanges: nudge)
    }
    PredictController(predictions: predictions, hazards: hazards, maxBodyBytes: maxBody).addRoutes(to: router.group(), access: access)
    FeedbackController(feedback: feedback, maxBodyBytes: maxBody, idempotency: idempotency).addRoutes(to: router.group(), access: access)
    ModelsController(
        models: models, feedback: feedback, threshold: configuration.hazardThreshold, audit: ActivationAudit(log: stores.audit, logger: logger),
        fleet: fleet
    ).addRoutes(to: router.group("models"), access: access)
    FleetController(fleet: fleet, staleAfterSeconds: 3 * configuration.fleetPollSeconds).addRoutes(to: router.group("fleet"), access: access)
    OpenInferenceController(models: models, predictions: predictions, maxReadings: configuration.maxReadingsPerRequest, maxBodyBytes: maxBody)
        .addRoutes(to: router.group("v2"), access: access)
    WebController(files: WebFiles()).addRoutes(to: router.group(), access: access)
    AnomalyController(
        service: anomalies, maxSamples: configuration.maxSamplesPerRequest, maxBodyBytes: maxBody, telemetry: telemetry, episodes: stores.episodes,
        idempotency: idempotency
    ).addRoutes(to: router.group("anomaly"), access: access)
    EMSController(outbox: stores.outbox, deliverer: deliverer, maxBodyBytes: maxBody).addRoutes(to: router.group("ems"), access: access)

    allowed.load(from: router)
    let routed = Set(router.routes.map(\.path.description))
    for pattern in configuration.rateLimitRoutes.keys where !routed.contains(pattern) {
        logger.warning("RATE_LIMIT_ROUTES names a route the service does not have", metadata: ["route": "\(pattern)"])
    }
    return router
}
