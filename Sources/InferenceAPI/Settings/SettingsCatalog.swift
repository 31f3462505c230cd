/// Every environment variable the server reads, declared once: its name, the default the code
/// applies (as text; nil when unset means off or derived), what the README's settings tables show
/// when that is not the value itself, and whether it is a secret (never logged or reported).
///
/// `SettingsReader` refuses to read a variable missing here, `SettingsCatalogTests` checks that
/// `Configuration` reads exactly these with exactly these defaults, and that the README's tables
/// (Configuration, EMS Core) name the same variables with the same defaults.
enum SettingsCatalog {
    struct Variable: Sendable {
        let name: String
        /// The default as the code applies it (`8080`, `0.5`, `on`, `./mlruns`); nil = unset.
        let value: String?
        /// What the README says instead of `value` (`beside the database`, `<host>-<pid>`).
        let shown: String?
        let secret: Bool

        init(_ name: String, _ value: String? = nil, shown: String? = nil, secret: Bool = false) {
            self.name = name
            self.value = value
            self.shown = shown
            self.secret = secret
        }

        /// The README's default cell for this variable, backticks removed.
        var documented: String { shown ?? value ?? "unset" }
    }

    static let variables: [Variable] = [
        // Where settings come from besides the environment.
        Variable("CONFIG_FILE"),
        Variable("SECRETS_DIR"),
        // The model and where it comes from.
        Variable("MLRUNS_DIR", "./mlruns"),
        Variable("MLFLOW_TRACKING_URI"),
        Variable("MLFLOW_ARTIFACT_ROOT", shown: "beside the database"),
        Variable("MODEL_CACHE_DIR", "./data/model-cache"),
        Variable("MLFLOW_TRACKING_TOKEN", secret: true),
        Variable("MLFLOW_TRACKING_USERNAME"),
        Variable("MLFLOW_TRACKING_PASSWORD", secret: true),
        Variable("MLFLOW_TRACKING_INSECURE_TLS", "false"),
        Variable("MLFLOW_TRACKING_SERVER_CERT_PATH"),
        Variable("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
        Variable("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
        Variable("MODEL_MAX_ARTIFACT_BYTES", "4294967296"),
        Variable("MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS", "false"),
        Variable("MODEL_REFRESH_SECONDS", "30"),
        Variable("BEST_MLFLOW_RUN_ID"),
        Variable("MODEL_URI"),
        Variable("MODEL_SELECT_METRIC", "roc_auc"),
        // Storage and start-up.
        Variable("DATABASE_URL", secret: true),
        Variable("STARTUP_TIMEOUT_SECONDS", "15"),
        Variable("SQLITE_PATH", "./data/inference.sqlite"),
        // Requests.
        Variable("HOST", "127.0.0.1"),
        Variable("PORT", "8080"),
        Variable("GRPC_PORT", "8081"),
        Variable("MAX_READINGS_PER_REQUEST", "10000"),
        Variable("MAX_SAMPLES_PER_REQUEST", "10000"),
        Variable("MAX_BODY_BYTES", "16777216"),
        Variable("HAZARD_THRESHOLD", "0.5"),
        Variable("ANOMALY_THRESHOLD", "0.5"),
        Variable("MIN_TRAINING_SAMPLES", "100"),
        Variable("MISSING_VALUES", "reject"),
        Variable("LOG_LEVEL", "info"),
        Variable("LOG_FORMAT", "json"),
        // Access.
        Variable("JWT_SECRET", secret: true),
        Variable("AUTH_USERNAME"),
        Variable("AUTH_PASSWORD", secret: true),
        Variable("AUTH_TENANT", "default"),
        Variable("JWT_EXPIRES_IN", "3600"),
        Variable("API_KEYS", secret: true),
        Variable("API_KEYS_FILE"),
        Variable("METRICS_AUTH", "on"),
        Variable("METRICS_USERNAME"),
        Variable("METRICS_PASSWORD", secret: true),
        Variable("RATE_LIMIT_PER_MINUTE", "60000"),
        Variable("RATE_LIMIT_ROUTES"),
        Variable("LOGIN_MAX_FAILURES", "10"),
        Variable("LOGIN_WINDOW_SECONDS", "300"),
        Variable("IDEMPOTENCY_KEY_HOURS", "24"),
        // Connections.
        Variable("REQUEST_HEADER_TIMEOUT_SECONDS", "10"),
        Variable("IDLE_TIMEOUT_SECONDS", "60"),
        Variable("LINGER_SECONDS", "5"),
        Variable("MAX_CONNECTIONS", "8192"),
        Variable("STORE_TIMEOUT_SECONDS", "10"),
        Variable("TRUSTED_PROXIES"),
        Variable("CORS_ORIGINS"),
        // Monitoring, shutdown, the fleet.
        Variable("DRIFT_WINDOW", "1000"),
        Variable("DRIFT_THRESHOLD", "0.5"),
        Variable("SHUTDOWN_GRACE_SECONDS", "25"),
        Variable("REPLICA_ID", shown: "<host>-<pid>"),
        Variable("FLEET_POLL_SECONDS", "5"),
        // Champion and challenger (the README's section of that name).
        Variable("CHALLENGER_MODEL_URI"),
        Variable("CHALLENGER_MODE", "shadow"),
        Variable("CHALLENGER_PERCENT", "10"),
        Variable("CHALLENGER_MIN_CALLS", "200"),
        Variable("CHALLENGER_MIN_LABELS", "100"),
        Variable("CHALLENGER_QUEUE_READINGS", "10000"),
        Variable("ANOMALY_MODEL_CACHE_BYTES", "268435456"),
        Variable("TLS_CERT_FILE"),
        Variable("TLS_KEY_FILE"),
        Variable("PREDICTOR", "auto"),
        Variable("TASK_EXECUTOR", "event-loops"),
        // EMS Core and episodes (the README's EMS Core section).
        Variable("EMS_CORE_URL"),
        Variable("EMS_CORE_TOKEN", secret: true),
        Variable("EMS_CORE_TIMEOUT_SECONDS", "10"),
        Variable("EMS_CORE_MAX_PAGE_BYTES", "8388608"),
        Variable("EMS_TRAIN_MAX_SAMPLES", "200000"),
        Variable("EMS_TRAIN_TIMEOUT_SECONDS", "120"),
        Variable("ALERT_MIN_SAMPLES", "2"),
        Variable("ALERT_CLEAR_SAMPLES", "5"),
        Variable("ALERT_CRITICAL_SCORE", "0.9"),
        Variable("HAZARD_EPISODES", "on"),
        Variable("HAZARD_EPISODE_QUEUE_READINGS", "100000"),
        Variable("EMS_BREAKER_FAILURES", "5"),
        Variable("EMS_BREAKER_COOLDOWN_SECONDS", "10"),
        Variable("EMS_RETRY_BASE_MILLISECONDS", "500"),
        Variable("EMS_RETRY_MAX_SECONDS", "60"),
        Variable("EMS_POLL_MILLISECONDS", "1000"),
        Variable("EMS_LEASE_SECONDS", "60"),
        Variable("EMS_OUTBOX_WARN_SIZE", "10000"),
    ]

    static let byName: [String: Variable] = Dictionary(uniqueKeysWithValues: variables.map { ($0.name, $0) })
}
