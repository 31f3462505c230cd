import Artifacts
import EMSCore
import Foundation
import GRPCCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ModelSources
import NIOSSL
import ServiceLifecycle
import Storage

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
    let source = try await openModelSource(configuration, logger: logger)
    let models = ModelService(
        source: source, configuredReference: configuration.modelReference, selectMetric: configuration.modelSelectMetric,
        predictor: configuration.predictor, telemetry: telemetry, logger: logger)
    let model: HazardModel, reference: String
    do {
        (model, reference) = try await models.activateAtStartup(reachWithin: .seconds(configuration.startupTimeoutSeconds))
    } catch let error as ModelSourceError {
        await source.close()
        throw StartupError.modelSource(error, configuration: configuration)
    } catch let error as ArtifactError {
        await source.close()
        throw StartupError.model(error, configuration: configuration)
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
    let services = await AppServices(configuration: configuration, models: models, stores: storage.stores, telemetry: telemetry, logger: logger)
    if configuration.emsCore == nil {
        logger.info("EMS Core integration is off (EMS_CORE_URL is not set): episodes are recorded, nothing is sent")
    }
    let router = buildRouter(services: services)
    let reloader = ReloadOnHangup(models: models, activation: services.activation, logger: logger)
    let fleetService = FleetService(coordinator: services.fleet, interval: .seconds(configuration.fleetPollSeconds))
    // A moved alias is served through the fleet's state, so every replica swaps to it.
    let follower = AliasFollower.make(
        models: models, refreshSeconds: configuration.modelRefreshSeconds, activation: services.activation, telemetry: telemetry, logger: logger)
    let closer = SourceCloser(source: source)
    let grpc = try configuration.grpcPort.map { _ in try GRPCListener(configuration: configuration, services: grpcServices(services, logger: logger), logger: logger) }

    let scheme = configuration.tlsCertificateFile == nil ? "http" : "https"
    let startupLogger = logger
    var app = Application(
        responder: HeadResponder(inner: router.buildResponder()),
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "inference-api"),
        services: storage.services + [reloader, fleetService, closer] as [any Service] + (follower.map { [$0] } ?? [])
            + (services.deliverer.map { [$0] } ?? []) + (services.hazards.map { [$0] } ?? []) + [services.challenger]
            + (grpc.map { [$0] } ?? []),
        onServerRunning: { channel in
            let port = channel.localAddress?.port.map(String.init) ?? String(configuration.port)
            startupLogger.notice("listening on \(scheme)://\(configuration.host):\(port) serving run \(model.runId) (\(reference))")
            // Start-up's code is done: what stays resident from here is what requests run.
            let released = CodePages.releaseStartupPages()
            startupLogger.debug("code pages released", metadata: ["mapped_bytes": "\(released)"])
        },
        logger: logger
    )
    app.beforeServerStarts {
        try await storage.migrate()
        services.deliverer?.open()
        await services.audit.record(model, reason: "start-up")
        // Before the server accepts anything: a replica joining a fleet serves the fleet's model.
        await services.fleet.start(loaded: model, reference: reference)
        await services.challenger.begin(configured: configuration.challenger)
    }
    return app
}

/// The model source `MLFLOW_TRACKING_URI` names. A PostgreSQL backend is tried with one
/// connection within `STARTUP_TIMEOUT_SECONDS` first (its pool would wait without end); a source
/// that cannot be reached or opened stops start-up with one line naming the variable.
func openModelSource(_ configuration: Configuration, logger: Logger) async throws -> any ModelSource {
    var settings = configuration.modelSource
    settings.mlrunsDirectory = configuration.mlrunsDirectory
    if case .fileStore(let path) = try settings.kind {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ConfigurationError(
                variable: settings.trackingURI == nil ? "MLRUNS_DIR" : "MLFLOW_TRACKING_URI",
                message: "(\(path)) is not a folder: point it at an MLflow file store (the mlruns/ folder MLflow writes)")
        }
    }
    if case .postgres(let url) = try settings.kind {
        try await StartupError.probePostgres(
            url: url.absoluteString, variable: "MLFLOW_TRACKING_URI", shown: settings.trackingURI ?? url.absoluteString,
            timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
    }
    do {
        return try await ModelSources.open(settings, logger: logger)
    } catch let error as ModelSourceError {
        throw StartupError.modelSource(error, configuration: configuration)
    }
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
    guard let tls = try tlsConfiguration(configuration) else { return http1 }
    return try .tls(http1, tlsConfiguration: tls)
}

/// The server's TLS settings from `TLS_CERT_FILE` and `TLS_KEY_FILE`, read and checked; nil
/// for plain HTTP. `serve` and `doctor` both read them here.
func tlsConfiguration(_ configuration: Configuration) throws -> TLSConfiguration? {
    guard let certificateFile = configuration.tlsCertificateFile, let keyFile = configuration.tlsKeyFile else { return nil }
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
    return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
}

/// The gRPC services (GRPC_PORT), on the same services as the HTTP routes.
func grpcServices(_ services: AppServices, logger: Logger) -> [any RegistrableRPCService] {
    let calls = GRPCCalls(authenticator: services.authenticator, limiter: services.rateLimiter, telemetry: services.telemetry, logger: logger)
    return [
        InferenceGRPCService(
            models: services.models, predictions: services.predictions, calls: calls, maxReadings: services.configuration.maxReadingsPerRequest),
        HealthGRPCService(models: services.models, calls: calls),
    ]
}

/// Every route of the service, on one router: the application and the route tests use it. It only
/// mounts controllers on `services`, which holds everything they use.
///
/// Each controller mounts its routes on its prefix group and declares there what they need
/// (`RouteAccess`); a route declared without it is a probe. The one router-wide middleware
/// (`EdgeMiddleware`) sees the matched route (`context.endpointPath`), so nothing matches paths a
/// second time.
func buildRouter(services: AppServices) -> Router<AppRequestContext> {
    let configuration = services.configuration
    let router = Router(context: AppRequestContext.self)
    let allowed = AllowedMethods()
    let access = AccessRules(limiter: services.rateLimiter, telemetry: services.telemetry)

    router.add(
        middleware: EdgeMiddleware(
            envelope: ErrorEnvelope(allowed: allowed, telemetry: services.telemetry), telemetry: services.telemetry,
            loopbackOnly: configuration.developmentMode, cors: configuration.corsOrigins.isEmpty ? nil : CORSPolicy(origins: configuration.corsOrigins),
            authentication: Authentication(authenticator: services.authenticator, proxies: configuration.trustedProxies)))

    let maxBody = configuration.maxBodyBytes
    var health = HealthController(models: services.models, database: services.stores.database, fleet: services.fleet)
    if let deliverer = services.deliverer { health.emsDelivery = { deliverer.status() } }
    if let hazards = services.hazards { health.hazardEpisodes = { hazards.status } }
    health.credentialsRequired = !configuration.developmentMode
    health.addRoutes(to: router.group(), access: access)
    AuthController(authenticator: services.authenticator).addRoutes(to: router.group("auth"), access: access)
    MonitoringController(telemetry: services.telemetry, drift: services.drift, models: services.models, metricsNeedCredentials: configuration.metricsAuth)
        .addRoutes(to: router.group(), access: access)
    PredictController(predictions: services.predictions, hazards: services.hazards, maxBodyBytes: maxBody).addRoutes(to: router.group(), access: access)
    FeedbackController(feedback: services.feedback, maxBodyBytes: maxBody, idempotency: services.idempotency).addRoutes(to: router.group(), access: access)
    ModelsController(
        models: services.models, feedback: services.feedback, threshold: configuration.hazardThreshold, audit: services.audit,
        activation: services.activation, fleet: services.fleet, challenger: services.challenger
    ).addRoutes(to: router.group("models"), access: access)
    ChallengerController(
        challenger: services.challenger, models: services.models, activation: services.activation, fleet: services.fleet,
        threshold: configuration.hazardThreshold
    ).addRoutes(to: router.group("models/challenger"), access: access)
    FleetController(fleet: services.fleet, staleAfterSeconds: 3 * configuration.fleetPollSeconds).addRoutes(to: router.group("fleet"), access: access)
    OpenInferenceController(
        models: services.models, predictions: services.predictions, maxReadings: configuration.maxReadingsPerRequest, maxBodyBytes: maxBody
    ).addRoutes(to: router.group("v2"), access: access)
    WebController(files: WebFiles()).addRoutes(to: router.group(), access: access)
    AnomalyController(
        service: services.anomalies, maxSamples: configuration.maxSamplesPerRequest, maxBodyBytes: maxBody, telemetry: services.telemetry,
        episodes: services.episodes, idempotency: services.idempotency
    ).addRoutes(to: router.group("anomaly"), access: access)
    EMSController(outbox: services.outbox, maxBodyBytes: maxBody).addRoutes(to: router.group("ems"), access: access)

    allowed.load(from: router)
    let routed = Set(router.routes.map(\.path.description))
    for pattern in configuration.rateLimitRoutes.keys where !routed.contains(pattern) {
        services.logger.warning("RATE_LIMIT_ROUTES names a route the service does not have", metadata: ["route": "\(pattern)"])
    }
    return router
}
