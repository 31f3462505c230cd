import EMSCore
import Logging
import Storage

/// Every service, store and client of the application, each built once from the configuration.
/// `buildApplication` makes one and runs its long-lived parts; `buildRouter(services:)` only mounts
/// the controllers on it; route tests make one on memory stores.
struct AppServices: Sendable {
    let configuration: Configuration
    let logger: Logger
    let telemetry: Telemetry
    let models: ModelService
    let stores: Stores
    let fleet: FleetCoordinator
    /// The one path of every swap of the served model.
    let activation: ModelActivation
    let audit: ActivationAudit
    let assetModels: AssetModelCache
    let predictions: PredictionService
    let feedback: FeedbackService
    let anomalies: AnomalyService
    let idempotency: Idempotency
    let drift: DriftMonitor
    let authenticator: Authenticator
    let rateLimiter: RateLimiter
    /// EMS Core's outbox deliverer; nil when `EMS_CORE_URL` is not set.
    let deliverer: OutboxDeliverer?
    /// The outbox for the operator (`/ems/outbox`).
    let outbox: OutboxAdministration
    /// Episode lists (`/anomaly/episodes`).
    let episodes: EpisodeQueries
    /// Champion and challenger on live traffic.
    let challenger: ChallengerService
    /// Hazard-episode bookkeeping; nil when `HAZARD_EPISODES` is off. Tests may put their own.
    var hazards: HazardEpisodes?

    init(configuration: Configuration, models: ModelService, stores: Stores, telemetry: Telemetry = Telemetry(), logger: Logger = Logger(label: "inference-api")) async {
        self.configuration = configuration
        self.logger = logger
        self.telemetry = telemetry
        self.models = models
        self.stores = stores
        let assetModels = AssetModelCache(budgetBytes: configuration.anomalyModelCacheBytes, telemetry: telemetry)
        self.assetModels = assetModels
        // The fleet hears of a changed experiment; the challenger service follows it.
        let (experimentChanges, experimentChanged) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        fleet = FleetCoordinator(
            identity: FleetCoordinator.identity(configured: configuration.replicaId), store: stores.fleet, models: models, logger: logger,
            assetModelChanged: { tenantId, assetId in assetModels.invalidate(tenantId: tenantId, assetId: assetId) },
            experimentChanged: { experimentChanged.yield() })
        audit = ActivationAudit(log: stores.audit, logger: logger)
        var challengerSettings = ChallengerService.Settings()
        challengerSettings.rules.minCalls = configuration.challengerMinCalls
        challengerSettings.rules.minLabels = configuration.challengerMinLabels
        challengerSettings.queueReadings = configuration.challengerQueueReadings
        challengerSettings.aliasRefreshSeconds = configuration.modelRefreshSeconds
        challengerSettings.faults = configuration.challengerFaults
        challengerSettings.tickSeconds = configuration.challengerTickSeconds
        if configuration.challengerShadowAtNormalPriority { challengerSettings.shadowWork = .blocking }
        challenger = ChallengerService(
            store: stores.fleet, models: models, replicaId: fleet.identity.id, threshold: configuration.hazardThreshold,
            settings: challengerSettings, telemetry: telemetry, audit: audit, logger: logger, fleetChanges: experimentChanges)
        activation = ModelActivation(models: models, fleet: fleet, audit: audit, logger: logger)

        let ems = configuration.emsCore.map { EMSCoreClient(endpoint: $0) }
        var delivery = configuration.delivery
        // SQLite is one process's own: whatever it had claimed when it stopped is free again.
        delivery.releaseLeasesAtStart = configuration.databaseURL == nil
        let deliverer = ems.map { OutboxDeliverer(outbox: stores.outbox, client: $0, settings: delivery, observer: telemetry, logger: logger) }
        self.deliverer = deliverer
        outbox = OutboxAdministration(outbox: stores.outbox, deliverer: deliverer)
        episodes = EpisodeQueries(store: stores.episodes)
        let nudge: (@Sendable () -> Void)? = deliverer.map { deliverer in { @Sendable in deliverer.nudge() } }

        drift = DriftMonitor(window: configuration.driftWindow, threshold: configuration.driftThreshold)
        var predictions = PredictionService(
            models: models, threshold: configuration.hazardThreshold, maxReadings: configuration.maxReadingsPerRequest,
            missingValues: configuration.missingValues.decoderPolicy, telemetry: telemetry, drift: drift)
        predictions.challenger = challenger
        self.predictions = predictions
        var feedback = FeedbackService(
            models: models, store: stores.feedback, threshold: configuration.hazardThreshold, maxReadings: configuration.maxReadingsPerRequest)
        feedback.challenger = challenger
        self.feedback = feedback
        var anomalies = AnomalyService(
            store: stores.anomalies, threshold: configuration.anomalyThreshold, minTrainingSamples: configuration.minTrainingSamples, cache: assetModels)
        anomalies.episodes = configuration.episodes
        anomalies.episodes.outbox = ems != nil
        anomalies.onEpisodeChanges = nudge
        if let ems { anomalies.emsMetrics = { asset, from, to in try await ems.metrics(assetId: asset, from: from, to: to) } }
        self.anomalies = anomalies
        idempotency = Idempotency(store: stores.receipts, retentionHours: configuration.idempotencyKeyHours, telemetry: telemetry)
        rateLimiter = RateLimiter(perMinute: configuration.rateLimitPerMinute, routes: configuration.rateLimitRoutes)
        authenticator = await Authenticator(configuration: configuration, loginFailures: stores.loginFailures)

        if configuration.hazardEpisodes {
            var policy = configuration.episodes
            policy.outbox = ems != nil
            // Its shutdown (the batch in hand, then one attempt at the rest) fits in the grace.
            let finish = min(2, Double(configuration.shutdownGraceSeconds) / 2)
            hazards = HazardEpisodes(
                store: stores.episodes,
                settings: .init(policy: policy, queueReadings: configuration.hazardEpisodeQueueReadings, finishSeconds: finish), logger: logger,
                onChanges: nudge, onDrop: { telemetry.hazardEpisodeReadingsDropped($0) })
        }
    }
}
