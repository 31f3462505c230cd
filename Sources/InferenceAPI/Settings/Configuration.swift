import AnomalyDetection
import Artifacts
import EMSCore
import Foundation
import Logging
import ModelSources
import Storage

/// Everything the server reads from its environment, parsed and checked once at start-up.
///
/// A bad value stops start-up with one `ConfigurationError` line naming the variable.
public struct Configuration: Sendable {
    public enum MissingValuePolicy: String, Sendable, CaseIterable {
        case reject, nan, zero

        var decoderPolicy: ReadingsDecoder.MissingValues {
            switch self {
            case .reject: .reject
            case .nan: .nan
            case .zero: .zero
            }
        }
    }

    public var mlrunsDirectory: String = "./mlruns"
    /// `MLFLOW_TRACKING_URI` and the variables that go with it (`MLFLOW_ARTIFACT_ROOT`,
    /// `MODEL_CACHE_DIR`, MLflow's `MLFLOW_TRACKING_TOKEN` / `_USERNAME` / `_PASSWORD`,
    /// `MLFLOW_TRACKING_INSECURE_TLS`, `MLFLOW_TRACKING_SERVER_CERT_PATH`,
    /// `MLFLOW_HTTP_REQUEST_TIMEOUT`, `MLFLOW_HTTP_REQUEST_MAX_RETRIES`). `mlrunsDirectory` is
    /// copied into it when the source is opened.
    public var modelSource = ModelSources.Settings()
    /// `MODEL_REFRESH_SECONDS`: how often a followed alias (`MODEL_URI=models:/<name>@<alias>`) is
    /// looked at; 0 turns following off.
    public var modelRefreshSeconds: Int = 30
    /// `BEST_MLFLOW_RUN_ID` or `MODEL_URI`; nil means "pick the default" (champion alias, best run).
    public var modelReference: String?
    public var modelSelectMetric: String = "roc_auc"
    /// `DATABASE_URL`; nil means the embedded SQLite file `sqlitePath`.
    public var databaseURL: String?
    public var sqlitePath: String = "./data/inference.sqlite"
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// `GRPC_PORT`: the Open Inference Protocol over gRPC on `host`; nil (`GRPC_PORT=0`) serves none.
    /// 0 here (tests only) takes any free port.
    public var grpcPort: Int?
    public var maxReadingsPerRequest: Int = 10_000
    public var maxSamplesPerRequest: Int = 10_000
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    public var hazardThreshold: Double = 0.5
    /// On the calibrated scale, 0.5 is a budget of 1 normal sample in 316 per detector: chosen on
    /// `make eval-anomaly` (README, Anomaly scores and thresholds).
    public var anomalyThreshold: Double = 0.5
    public var minTrainingSamples: Int = 100
    public var missingValues: MissingValuePolicy = .reject
    public var logLevel: Logger.Level = .info
    /// `json` (one object per line, the default) or `text`.
    public var logFormat: String = "json"
    /// HS256 key for the tokens `POST /auth/token` issues (at least 32 bytes).
    public var jwtSecret: String?
    public var authUsername: String?
    public var authPassword: String?
    /// The operator's tenant (`AUTH_TENANT`).
    public var authTenant: String = "default"
    /// Lifetime of issued tokens (`JWT_EXPIRES_IN`, seconds).
    public var tokenLifetimeSeconds: Int = 3600
    /// Machine clients' keys from `API_KEYS` and `API_KEYS_FILE`, hashed.
    public var apiKeys: [APIKey] = []
    /// `METRICS_AUTH=off` serves `/metrics` without credentials (a private network's scraper).
    public var metricsAuth: Bool = true
    public var metricsUsername: String?
    public var metricsPassword: String?
    /// Requests per minute per caller (token bucket); `RATE_LIMIT_ROUTES` overrides it per route.
    public var rateLimitPerMinute: Int = 60000
    /// Failed password checks (token login or Basic) a username or address may make within
    /// `loginWindowSeconds` before it must wait out the window.
    public var loginMaxFailures: Int = 10
    public var loginWindowSeconds: Int = 300
    /// How long the answer to a write with an `Idempotency-Key` is kept for retries (hours, at least 24).
    public var idempotencyKeyHours: Int = 24
    public var rateLimitRoutes: [String: Int] = [:]
    /// Origins allowed by CORS (`CORS_ORIGINS`, comma-separated, or `*`); empty = no CORS headers.
    public var corsOrigins: [String] = []
    /// Reverse proxies whose X-Forwarded-For names the client (`TRUSTED_PROXIES`, IPs or CIDR blocks).
    var trustedProxies = TrustedProxies(networks: [])
    /// Readings per feature kept for drift (`DRIFT_WINDOW`) and the |mean shift| in training
    /// standard deviations above which a feature counts as drifted (`DRIFT_THRESHOLD`).
    public var driftWindow: Int = 1000
    public var driftThreshold: Double = 0.5
    /// Longest wait for requests in flight after SIGTERM (`SHUTDOWN_GRACE_SECONDS`).
    public var shutdownGraceSeconds: Int = 25
    /// A request head must arrive whole within this many seconds of its first byte (or of the connection opening).
    public var requestHeaderTimeoutSeconds: Int = 10
    /// A keep-alive connection with no request in progress is closed after this many seconds.
    public var idleTimeoutSeconds: Int = 60
    /// After answering a request whose body was not read (413, 401, ...), the rest is read and
    /// discarded for at most this many seconds before the connection closes.
    public var lingerSeconds: Int = 5
    /// Connections beyond this many are closed as soon as they are accepted.
    public var maxConnections: Int = 8192
    /// A PostgreSQL call that takes longer fails as 503 (with Retry-After) instead of waiting for the database.
    public var storeTimeoutSeconds: Int = 10
    /// `STARTUP_TIMEOUT_SECONDS`: how long start-up tries each dependency (the database) before it
    /// gives up with one line naming the variable and exits 3.
    public var startupTimeoutSeconds: Int = 15
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// This replica's name in `/fleet` (`REPLICA_ID`); nil means `<host>-<pid>`.
    public var replicaId: String?
    /// Seconds between heartbeats and re-reads of the fleet's state (`FLEET_POLL_SECONDS`).
    public var fleetPollSeconds: Int = 5
    /// Memory for decoded anomaly models per asset (`ANOMALY_MODEL_CACHE_BYTES`); least recently used goes first.
    public var anomalyModelCacheBytes: Int = 256 * 1024 * 1024
    /// Where request handlers run (`TASK_EXECUTOR`): `event-loops` makes SwiftNIO's event loops
    /// Swift's global executor, so a request is read, handled and answered on one thread; `global`
    /// keeps Swift's own pool, and each request hops to it and back.
    public var taskExecutor: TaskExecutorChoice = .eventLoops
    /// `PREDICTOR`: who computes probabilities. `auto` (default) serves the compiled forest when it
    /// equals the C API bit for bit at load, else the C API; `compiled` refuses a model whose forest
    /// cannot; `c-api` never builds one.
    public var predictor: PredictorChoice = .auto
    /// Episodes of anomalous samples (`ALERT_MIN_SAMPLES`, `ALERT_CLEAR_SAMPLES`, `ALERT_CRITICAL_SCORE`).
    public var episodes = EpisodePolicy()
    /// `HAZARD_EPISODES`: battery modules whose hazard probability reaches `HAZARD_THRESHOLD` open
    /// hazard episodes (same sample counts and severity rule), sent to EMS Core like anomaly ones.
    public var hazardEpisodes = true
    /// A challenger to start at start-up when the fleet runs no experiment (`CHALLENGER_MODEL_URI`,
    /// `CHALLENGER_MODE`, `CHALLENGER_PERCENT`).
    public var challenger: ChallengerStart?
    /// The guard's minimum evidence (`CHALLENGER_MIN_CALLS`, `CHALLENGER_MIN_LABELS`) and the
    /// shadow queue (`CHALLENGER_QUEUE_READINGS`).
    public var challengerMinCalls = 200
    public var challengerMinLabels = 100
    public var challengerQueueReadings = 10_000
    /// Tests only (no variable): the challenger's model step made slow or failing, and the tick.
    var challengerFaults = ChallengerService.Faults()
    var challengerTickSeconds = 1.0
    /// Tests only: the shadow on the blocking pool at normal priority, so a machine saturated by
    /// other tests cannot starve it (the default, SCHED_IDLE, is what `make bench` measures).
    var challengerShadowAtNormalPriority = false
    /// Tests: told the gRPC server's port once it listens (with `grpcPort` 0, any free port).
    var onGRPCListening: (@Sendable (Int) -> Void)?

    public struct ChallengerStart: Sendable, Equatable {
        public var reference: String
        public var mode: String
        public var percent: Int
    }

    /// `HAZARD_EPISODE_QUEUE_READINGS`: readings waiting for episode bookkeeping at most (past it a
    /// request's readings are dropped from it and counted; the answer is unaffected).
    public var hazardEpisodeQueueReadings = 100_000
    /// EMS Core (`EMS_CORE_URL`; nil = integration off: episodes are recorded, nothing is sent), and
    /// the bounds of every call to it (`EMS_CORE_TIMEOUT_SECONDS`, `EMS_CORE_MAX_PAGE_BYTES`,
    /// `EMS_TRAIN_MAX_SAMPLES`, `EMS_TRAIN_TIMEOUT_SECONDS`).
    public var emsCore: EMSCoreEndpoint?
    /// How the outbox is delivered to EMS Core (`EMS_BREAKER_FAILURES`, `EMS_BREAKER_COOLDOWN_SECONDS`,
    /// `EMS_RETRY_BASE_MILLISECONDS`, `EMS_RETRY_MAX_SECONDS`, `EMS_POLL_MILLISECONDS`, `EMS_LEASE_SECONDS`,
    /// `EMS_OUTBOX_WARN_SIZE`).
    public var delivery = DeliverySettings()

    public enum TaskExecutorChoice: String, Sendable, CaseIterable {
        case eventLoops = "event-loops"
        case global
    }

    /// Nothing authenticates callers: every request is allowed, and only loopback may be bound.
    public var developmentMode: Bool { jwtSecret == nil && authUsername == nil && apiKeys.isEmpty }

    public init() {}

    /// Reads `environment` only (tests, and tools that take no settings files).
    /// - Throws: `ConfigurationError` for the first variable with a bad value.
    public init(environment: [String: String]) throws {
        try self.init(reader: SettingsReader(environment: environment))
    }

    /// Reads the environment, then the files it names (`CONFIG_FILE`, `SECRETS_DIR`): what the
    /// server's commands use.
    public static func load(environment: [String: String]) async throws -> Configuration {
        try Configuration(reader: try await SettingsReader.fromEnvironmentAndFiles(environment))
    }

    /// Every variable is declared in `SettingsCatalog`; `SettingsCatalogTests` checks that this
    /// reads each with the default declared there.
    init(reader env: SettingsReader) throws {
        mlrunsDirectory = env.string("MLRUNS_DIR", default: mlrunsDirectory)
        let runId = env.string("BEST_MLFLOW_RUN_ID")
        let uri = env.string("MODEL_URI")
        if runId != nil, uri != nil, runId != uri {
            throw ConfigurationError(variable: "MODEL_URI", message: "set either MODEL_URI or BEST_MLFLOW_RUN_ID, not both")
        }
        modelReference = uri ?? runId
        modelSelectMetric = env.string("MODEL_SELECT_METRIC", default: modelSelectMetric)
        modelSource.trackingURI = env.string("MLFLOW_TRACKING_URI")
        do { _ = try modelSource.kind } catch { throw ConfigurationError(variable: "MLFLOW_TRACKING_URI", message: "\(error)") }
        modelSource.artifactRoot = env.string("MLFLOW_ARTIFACT_ROOT")
        modelSource.cacheDirectory = env.string("MODEL_CACHE_DIR", default: modelSource.cacheDirectory)
        modelSource.token = env.string("MLFLOW_TRACKING_TOKEN")
        modelSource.username = env.string("MLFLOW_TRACKING_USERNAME")
        modelSource.password = env.string("MLFLOW_TRACKING_PASSWORD")
        if (modelSource.username == nil) != (modelSource.password == nil) {
            throw ConfigurationError(
                variable: modelSource.username == nil ? "MLFLOW_TRACKING_USERNAME" : "MLFLOW_TRACKING_PASSWORD",
                message: "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together")
        }
        modelSource.insecureTLS = try env.flag("MLFLOW_TRACKING_INSECURE_TLS", default: modelSource.insecureTLS, words: "true or false")
        modelSource.serverCertificate = env.string("MLFLOW_TRACKING_SERVER_CERT_PATH")
        modelSource.redirectsToOtherHosts = try env.flag(
            "MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS", default: modelSource.redirectsToOtherHosts, words: "true or false")
        modelSource.requestTimeoutSeconds = try env.int("MLFLOW_HTTP_REQUEST_TIMEOUT", default: 30, range: 1...600)
        modelSource.attempts = try env.int("MLFLOW_HTTP_REQUEST_MAX_RETRIES", default: 2, range: 0...10) + 1
        modelSource.maxArtifactBytes = try env.int("MODEL_MAX_ARTIFACT_BYTES", default: modelSource.maxArtifactBytes, range: 1...1 << 40)
        modelRefreshSeconds = try env.int("MODEL_REFRESH_SECONDS", default: modelRefreshSeconds, range: 0...86_400)
        databaseURL = env.string("DATABASE_URL")
        if let url = databaseURL {
            // A malformed URL is the configuration's mistake (exit 2), not an unreachable database (3).
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"), (try? PostgresStoreDatabase.configuration(url: url)) != nil else {
                throw ConfigurationError(
                    variable: "DATABASE_URL",
                    message: "must be a postgres://user:password@host:port/database URL, got '\(StartupError.redacted(url))' (unset it to use the embedded SQLite file)")
            }
        }
        sqlitePath = env.string("SQLITE_PATH", default: sqlitePath)
        host = env.string("HOST", default: host)
        port = try env.int("PORT", default: port, range: 0...65535)
        let grpc = try env.int("GRPC_PORT", default: 8081, range: 0...65535)
        grpcPort = grpc == 0 ? nil : grpc
        maxReadingsPerRequest = try env.int("MAX_READINGS_PER_REQUEST", default: maxReadingsPerRequest, range: 1...1_000_000)
        maxSamplesPerRequest = try env.int("MAX_SAMPLES_PER_REQUEST", default: maxSamplesPerRequest, range: 1...1_000_000)
        maxBodyBytes = try env.int("MAX_BODY_BYTES", default: maxBodyBytes, range: 1024...1_073_741_824)
        hazardThreshold = try env.double("HAZARD_THRESHOLD", default: hazardThreshold, range: 0...1)
        anomalyThreshold = try env.double("ANOMALY_THRESHOLD", default: anomalyThreshold, range: 0...1)
        minTrainingSamples = try env.int("MIN_TRAINING_SAMPLES", default: minTrainingSamples, range: 2...10_000_000)
        rateLimitPerMinute = try env.int("RATE_LIMIT_PER_MINUTE", default: rateLimitPerMinute, range: 1...100_000_000)
        loginMaxFailures = try env.int("LOGIN_MAX_FAILURES", default: loginMaxFailures, range: 1...1_000_000)
        loginWindowSeconds = try env.int("LOGIN_WINDOW_SECONDS", default: loginWindowSeconds, range: 1...86_400)
        idempotencyKeyHours = try env.int("IDEMPOTENCY_KEY_HOURS", default: idempotencyKeyHours, range: 24...8_760)
        missingValues = try env.choice("MISSING_VALUES", default: missingValues)
        logLevel = try env.choice("LOG_LEVEL", default: logLevel)
        let format = env.string("LOG_FORMAT", default: logFormat)
        guard ["json", "text"].contains(format.lowercased()) else {
            throw ConfigurationError(variable: "LOG_FORMAT", message: "must be json or text (got '\(format)')")
        }
        logFormat = format.lowercased()
        taskExecutor = try env.choice("TASK_EXECUTOR", default: taskExecutor)
        predictor = try env.choice("PREDICTOR", default: predictor)
        jwtSecret = env.string("JWT_SECRET")
        if let secret = jwtSecret, secret.utf8.count < 32 {
            throw ConfigurationError(variable: "JWT_SECRET", message: "must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
        }
        authUsername = env.string("AUTH_USERNAME")
        authPassword = env.string("AUTH_PASSWORD")
        if (authUsername == nil) != (authPassword == nil) {
            throw ConfigurationError(
                variable: authUsername == nil ? "AUTH_USERNAME" : "AUTH_PASSWORD", message: "AUTH_USERNAME and AUTH_PASSWORD must be set together")
        }
        if authUsername != nil, jwtSecret == nil {
            throw ConfigurationError(variable: "JWT_SECRET", message: "must be set with AUTH_USERNAME: it signs the tokens of POST /auth/token")
        }
        authTenant = env.string("AUTH_TENANT", default: authTenant)
        guard Tenant.isValid(authTenant) else {
            throw ConfigurationError(variable: "AUTH_TENANT", message: "must be 1-64 letters, digits, '-', '_' or '.'")
        }
        tokenLifetimeSeconds = try env.int("JWT_EXPIRES_IN", default: tokenLifetimeSeconds, range: 60...604_800)
        for (variable, text) in try Self.apiKeySources(env) {
            switch APIKey.parse(text, fleetTenant: authTenant) {
            case .success(let keys): apiKeys += keys
            case .failure(let invalid): throw ConfigurationError(variable: variable, message: invalid.message)
            }
        }
        metricsAuth = try env.flag("METRICS_AUTH", default: metricsAuth)
        metricsUsername = env.string("METRICS_USERNAME")
        metricsPassword = env.string("METRICS_PASSWORD")
        if (metricsUsername == nil) != (metricsPassword == nil) {
            throw ConfigurationError(
                variable: metricsUsername == nil ? "METRICS_USERNAME" : "METRICS_PASSWORD",
                message: "METRICS_USERNAME and METRICS_PASSWORD must be set together")
        }
        if let v = env.string("RATE_LIMIT_ROUTES") {
            for entry in v.split(separator: ",") {
                let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].hasPrefix("/"), let limit = Int(parts[1]), limit >= 1 else {
                    throw ConfigurationError(
                        variable: "RATE_LIMIT_ROUTES", message: "entries are /route=PER_MINUTE separated by commas (got '\(entry)')")
                }
                rateLimitRoutes[parts[0]] = limit
            }
        }
        if let v = env.string("TRUSTED_PROXIES") {
            switch TrustedProxies.parse(v) {
            case .success(let proxies): trustedProxies = proxies
            case .failure(let bad): throw ConfigurationError(variable: "TRUSTED_PROXIES", message: bad.message)
            }
        }
        if let v = env.string("CORS_ORIGINS") {
            corsOrigins = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for origin in corsOrigins where origin != "*" && !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) {
                throw ConfigurationError(variable: "CORS_ORIGINS", message: "origins look like https://host[:port], or * (got '\(origin)')")
            }
        }
        driftWindow = try env.int("DRIFT_WINDOW", default: driftWindow, range: 10...1_000_000)
        driftThreshold = try env.double("DRIFT_THRESHOLD", default: driftThreshold, range: 0...1000)
        shutdownGraceSeconds = try env.int("SHUTDOWN_GRACE_SECONDS", default: shutdownGraceSeconds, range: 1...3600)
        episodes.minSamples = try env.int("ALERT_MIN_SAMPLES", default: episodes.minSamples, range: 1...100_000)
        episodes.clearSamples = try env.int("ALERT_CLEAR_SAMPLES", default: episodes.clearSamples, range: 1...100_000)
        episodes.criticalScore = try env.double("ALERT_CRITICAL_SCORE", default: episodes.criticalScore, range: 0...1)
        hazardEpisodes = try env.flag("HAZARD_EPISODES", default: hazardEpisodes)
        hazardEpisodeQueueReadings = try env.int(
            "HAZARD_EPISODE_QUEUE_READINGS", default: hazardEpisodeQueueReadings, range: 1...10_000_000)
        if let url = env.string("EMS_CORE_URL") {
            guard let parts = URLComponents(string: url), ["http", "https"].contains(parts.scheme?.lowercased() ?? ""), !(parts.host ?? "").isEmpty,
                parts.query == nil
            else {
                throw ConfigurationError(variable: "EMS_CORE_URL", message: "must be an http(s)://host[:port][/path] URL (unset it to turn the integration off)")
            }
            var endpoint = EMSCoreEndpoint(baseURL: url, token: env.string("EMS_CORE_TOKEN"))
            endpoint.timeout = try env.double("EMS_CORE_TIMEOUT_SECONDS", default: endpoint.timeout, range: 0.1...300)
            endpoint.maxPageBytes = try env.int("EMS_CORE_MAX_PAGE_BYTES", default: endpoint.maxPageBytes, range: 1024...1_073_741_824)
            endpoint.trainMaxSamples = try env.int("EMS_TRAIN_MAX_SAMPLES", default: endpoint.trainMaxSamples, range: 1...10_000_000)
            endpoint.trainTimeout = try env.double("EMS_TRAIN_TIMEOUT_SECONDS", default: endpoint.trainTimeout, range: 0.1...86_400)
            emsCore = endpoint
        }
        delivery.breakerFailures = try env.int("EMS_BREAKER_FAILURES", default: delivery.breakerFailures, range: 1...10_000)
        delivery.breakerCooldown = try env.double("EMS_BREAKER_COOLDOWN_SECONDS", default: delivery.breakerCooldown, range: 0.01...3600)
        delivery.retry.baseDelay = Double(try env.int("EMS_RETRY_BASE_MILLISECONDS", default: Int(delivery.retry.baseDelay * 1000), range: 1...600_000)) / 1000
        delivery.retry.maxDelay = try env.double("EMS_RETRY_MAX_SECONDS", default: delivery.retry.maxDelay, range: 0.01...86_400)
        delivery.pollInterval = Double(try env.int("EMS_POLL_MILLISECONDS", default: Int(delivery.pollInterval * 1000), range: 1...600_000)) / 1000
        delivery.lease = try env.double("EMS_LEASE_SECONDS", default: delivery.lease, range: 1...86_400)
        delivery.outboxWarnSize = try env.int("EMS_OUTBOX_WARN_SIZE", default: delivery.outboxWarnSize, range: 1...100_000_000)
        requestHeaderTimeoutSeconds = try env.int("REQUEST_HEADER_TIMEOUT_SECONDS", default: requestHeaderTimeoutSeconds, range: 1...3600)
        idleTimeoutSeconds = try env.int("IDLE_TIMEOUT_SECONDS", default: idleTimeoutSeconds, range: 1...86_400)
        lingerSeconds = try env.int("LINGER_SECONDS", default: lingerSeconds, range: 1...300)
        maxConnections = try env.int("MAX_CONNECTIONS", default: maxConnections, range: 1...1_000_000)
        storeTimeoutSeconds = try env.int("STORE_TIMEOUT_SECONDS", default: storeTimeoutSeconds, range: 1...300)
        startupTimeoutSeconds = try env.int("STARTUP_TIMEOUT_SECONDS", default: startupTimeoutSeconds, range: 1...600)
        replicaId = env.string("REPLICA_ID")
        fleetPollSeconds = try env.int("FLEET_POLL_SECONDS", default: fleetPollSeconds, range: 1...30)
        let challengerMode = env.string("CHALLENGER_MODE", default: "shadow")
        guard ["shadow", "canary"].contains(challengerMode) else {
            throw ConfigurationError(variable: "CHALLENGER_MODE", message: "is shadow or canary (got '\(challengerMode)')")
        }
        let challengerPercent = try env.int("CHALLENGER_PERCENT", default: 10, range: 0...100)
        challenger = env.string("CHALLENGER_MODEL_URI").map { ChallengerStart(reference: $0, mode: challengerMode, percent: challengerPercent) }
        challengerMinCalls = try env.int("CHALLENGER_MIN_CALLS", default: challengerMinCalls, range: 1...100_000_000)
        challengerMinLabels = try env.int("CHALLENGER_MIN_LABELS", default: challengerMinLabels, range: 1...100_000_000)
        challengerQueueReadings = try env.int("CHALLENGER_QUEUE_READINGS", default: challengerQueueReadings, range: 1...10_000_000)
        anomalyModelCacheBytes = try env.int("ANOMALY_MODEL_CACHE_BYTES", default: anomalyModelCacheBytes, range: 0...1 << 40)
        tlsCertificateFile = env.string("TLS_CERT_FILE")
        tlsKeyFile = env.string("TLS_KEY_FILE")
        if (tlsCertificateFile == nil) != (tlsKeyFile == nil) {
            throw ConfigurationError(
                variable: tlsCertificateFile == nil ? "TLS_CERT_FILE" : "TLS_KEY_FILE",
                message: "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
        }
    }

    /// Refuses what would expose the service: no credentials (development mode) on anything but
    /// loopback, and tokens that cannot be checked off loopback. Called after flags override.
    public func checkExposure() throws {
        guard !Self.isLoopback(host) else { return }
        if developmentMode {
            throw ConfigurationError(
                variable: "HOST",
                message: "is \(host), but no credentials are configured (development mode allows everything): set API_KEYS or AUTH_USERNAME/AUTH_PASSWORD with JWT_SECRET, or bind 127.0.0.1")
        }
        if jwtSecret == nil {
            throw ConfigurationError(variable: "JWT_SECRET", message: "must be set when binding to \(host) (not loopback)")
        }
    }

    private static func apiKeySources(_ env: SettingsReader) throws -> [(String, String)] {
        var sources: [(String, String)] = []
        if let text = env.string("API_KEYS") { sources.append(("API_KEYS", text)) }
        if let path = env.string("API_KEYS_FILE") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(variable: "API_KEYS_FILE", message: "cannot be read (\(path))")
            }
            sources.append(("API_KEYS_FILE", text))
        }
        return sources
    }
}
