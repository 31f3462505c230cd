/// The versioned schema shared by the PostgreSQL and SQLite stores.
///
/// Each migration runs once, inside a transaction, and is recorded in `schema_migrations`;
/// running them again is a no-op, so every start-up applies them. Append, never edit.
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        let postgres: [String]
        let sqlite: [String]
    }

    /// Columns every back end must have, by table: the contract the repository tests check.
    public static let expectedColumns: [String: [String]] = [
        "anomaly_scores": [
            "id", "tenant_id", "asset_id", "metric_name", "score", "is_anomaly", "threshold", "method", "model_id",
            "metadata", "timestamp", "created_at",
        ],
        "model_metadata": [
            "id", "tenant_id", "model_type", "model_version", "asset_id", "training_date", "metrics", "parameters",
            "status", "artifact", "artifact_path", "metadata", "created_at",
        ],
        "metric_samples": ["id", "tenant_id", "asset_id", "timestamp", "metrics", "created_at"],
        "hazard_feedback": ["id", "tenant_id", "run_id", "features", "outcome", "probability", "module_id", "created_at"],
        "anomaly_episodes": [
            "id", "tenant_id", "asset_id", "kind", "state", "severity", "metric", "peak_score", "started_at", "last_anomaly_at", "ended_at",
            "anomalous_samples", "normal_run", "created_at", "updated_at",
        ],
        "episode_trackers": [
            "tenant_id", "asset_id", "kind", "pending_run", "pending_start", "pending_last", "pending_peak", "pending_metric", "open_episode_id",
        ],
        "ems_outbox": [
            "id", "tenant_id", "episode_id", "asset_id", "target", "change", "idempotency_key", "payload", "state", "attempts",
            "next_attempt_at", "last_error", "created_at", "delivered_at",
        ],
        "idempotency_keys": ["tenant_id", "key", "fingerprint", "status", "body", "created_at", "expires_at"],
        "fleet_state": ["id", "reference", "run_id", "version", "updated_by", "reason", "updated_at"],
        "fleet_replicas": [
            "replica_id", "host", "fleet_version", "run_id", "ready", "diverged_reason", "started_at", "last_seen",
        ],
        "login_failures": ["id", "key", "failed_at"],
        "fleet_experiment": [
            "id", "version", "reference", "run_id", "mode", "percent", "sticky", "status", "reason", "started_by", "started_at", "ended_at",
        ],
        "fleet_experiment_counters": ["version", "replica_id", "counters", "updated_at"],
    ]

    public static let all: [Migration] = [
        Migration(
            version: 1, name: "anomaly_scores, model_metadata, metric_samples",
            postgres: [
                """
                CREATE TABLE anomaly_scores (
                    id BIGSERIAL PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    asset_id TEXT NOT NULL,
                    metric_name TEXT NOT NULL,
                    score DOUBLE PRECISION NOT NULL,
                    is_anomaly BOOLEAN NOT NULL,
                    threshold DOUBLE PRECISION NOT NULL,
                    method TEXT NOT NULL,
                    model_id TEXT,
                    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
                    timestamp TIMESTAMPTZ NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX anomaly_scores_tenant_asset_time ON anomaly_scores (tenant_id, asset_id, timestamp)",
                """
                CREATE TABLE model_metadata (
                    id BIGSERIAL PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    model_type TEXT NOT NULL,
                    model_version TEXT NOT NULL,
                    asset_id TEXT,
                    training_date TIMESTAMPTZ NOT NULL,
                    metrics JSONB NOT NULL DEFAULT '{}'::jsonb,
                    parameters JSONB NOT NULL DEFAULT '{}'::jsonb,
                    status TEXT NOT NULL,
                    artifact BYTEA,
                    artifact_path TEXT,
                    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX model_metadata_tenant_asset ON model_metadata (tenant_id, asset_id, status)",
                """
                CREATE TABLE metric_samples (
                    id BIGSERIAL PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    asset_id TEXT NOT NULL,
                    timestamp TIMESTAMPTZ NOT NULL,
                    metrics JSONB NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX metric_samples_tenant_asset_time ON metric_samples (tenant_id, asset_id, timestamp)",
            ],
            sqlite: [
                """
                CREATE TABLE anomaly_scores (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    asset_id TEXT NOT NULL,
                    metric_name TEXT NOT NULL,
                    score REAL NOT NULL,
                    is_anomaly INTEGER NOT NULL,
                    threshold REAL NOT NULL,
                    method TEXT NOT NULL,
                    model_id TEXT,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    timestamp TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                "CREATE INDEX anomaly_scores_tenant_asset_time ON anomaly_scores (tenant_id, asset_id, timestamp)",
                """
                CREATE TABLE model_metadata (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    model_type TEXT NOT NULL,
                    model_version TEXT NOT NULL,
                    asset_id TEXT,
                    training_date TEXT NOT NULL,
                    metrics TEXT NOT NULL DEFAULT '{}',
                    parameters TEXT NOT NULL DEFAULT '{}',
                    status TEXT NOT NULL,
                    artifact BLOB,
                    artifact_path TEXT,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                "CREATE INDEX model_metadata_tenant_asset ON model_metadata (tenant_id, asset_id, status)",
                """
                CREATE TABLE metric_samples (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    asset_id TEXT NOT NULL,
                    timestamp TEXT NOT NULL,
                    metrics TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                "CREATE INDEX metric_samples_tenant_asset_time ON metric_samples (tenant_id, asset_id, timestamp)",
            ]),
        Migration(
            version: 2, name: "hazard_feedback",
            postgres: [
                """
                CREATE TABLE hazard_feedback (
                    id BIGSERIAL PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    run_id TEXT NOT NULL,
                    features JSONB NOT NULL,
                    outcome SMALLINT NOT NULL CHECK (outcome IN (0, 1)),
                    probability DOUBLE PRECISION NOT NULL,
                    module_id TEXT,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX hazard_feedback_tenant_id ON hazard_feedback (tenant_id, id)",
            ],
            sqlite: [
                """
                CREATE TABLE hazard_feedback (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    run_id TEXT NOT NULL,
                    features TEXT NOT NULL,
                    outcome INTEGER NOT NULL CHECK (outcome IN (0, 1)),
                    probability REAL NOT NULL,
                    module_id TEXT,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                "CREATE INDEX hazard_feedback_tenant_id ON hazard_feedback (tenant_id, id)",
            ]),
        Migration(
            version: 3, name: "idempotency_keys",
            postgres: [
                """
                CREATE TABLE idempotency_keys (
                    tenant_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    body BYTEA NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    expires_at TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (tenant_id, key)
                )
                """,
                "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)",
            ],
            sqlite: [
                """
                CREATE TABLE idempotency_keys (
                    tenant_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    expires_at TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, key)
                )
                """,
                "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)",
            ]),
        Migration(
            version: 4, name: "anomaly_episodes, episode_trackers, ems_outbox",
            postgres: [
                """
                CREATE TABLE anomaly_episodes (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    asset_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
                    severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
                    metric TEXT NOT NULL,
                    peak_score DOUBLE PRECISION NOT NULL,
                    started_at TIMESTAMPTZ NOT NULL,
                    last_anomaly_at TIMESTAMPTZ NOT NULL,
                    ended_at TIMESTAMPTZ,
                    anomalous_samples INTEGER NOT NULL,
                    normal_run INTEGER NOT NULL DEFAULT 0,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX anomaly_episodes_tenant_start ON anomaly_episodes (tenant_id, started_at, id)",
                "CREATE INDEX anomaly_episodes_tenant_asset_start ON anomaly_episodes (tenant_id, asset_id, started_at)",
                """
                CREATE TABLE episode_trackers (
                    tenant_id TEXT NOT NULL,
                    asset_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    pending_run INTEGER NOT NULL DEFAULT 0,
                    pending_start TIMESTAMPTZ,
                    pending_last TIMESTAMPTZ,
                    pending_peak DOUBLE PRECISION NOT NULL DEFAULT 0,
                    pending_metric TEXT,
                    open_episode_id TEXT REFERENCES anomaly_episodes (id),
                    PRIMARY KEY (tenant_id, asset_id, kind)
                )
                """,
                """
                CREATE TABLE ems_outbox (
                    id BIGSERIAL PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    episode_id TEXT NOT NULL REFERENCES anomaly_episodes (id),
                    asset_id TEXT NOT NULL,
                    target TEXT NOT NULL CHECK (target IN ('event', 'alert')),
                    change TEXT NOT NULL CHECK (change IN ('open', 'escalate', 'close')),
                    idempotency_key TEXT NOT NULL UNIQUE,
                    payload JSONB NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'parked')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at TIMESTAMPTZ NOT NULL,
                    last_error TEXT,
                    created_at TIMESTAMPTZ NOT NULL,
                    delivered_at TIMESTAMPTZ
                )
                """,
                "CREATE INDEX ems_outbox_due ON ems_outbox (state, next_attempt_at, id)",
                "CREATE INDEX ems_outbox_episode ON ems_outbox (episode_id, state, id)",
                "CREATE INDEX ems_outbox_tenant_state ON ems_outbox (tenant_id, state, id)",
                "CREATE INDEX anomaly_scores_tenant_id ON anomaly_scores (tenant_id, id)",
            ],
            sqlite: [
                """
                CREATE TABLE anomaly_episodes (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    asset_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
                    severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
                    metric TEXT NOT NULL,
                    peak_score REAL NOT NULL,
                    started_at TEXT NOT NULL,
                    last_anomaly_at TEXT NOT NULL,
                    ended_at TEXT,
                    anomalous_samples INTEGER NOT NULL,
                    normal_run INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                "CREATE INDEX anomaly_episodes_tenant_start ON anomaly_episodes (tenant_id, started_at, id)",
                "CREATE INDEX anomaly_episodes_tenant_asset_start ON anomaly_episodes (tenant_id, asset_id, started_at)",
                """
                CREATE TABLE episode_trackers (
                    tenant_id TEXT NOT NULL,
                    asset_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    pending_run INTEGER NOT NULL DEFAULT 0,
                    pending_start TEXT,
                    pending_last TEXT,
                    pending_peak REAL NOT NULL DEFAULT 0,
                    pending_metric TEXT,
                    open_episode_id TEXT REFERENCES anomaly_episodes (id),
                    PRIMARY KEY (tenant_id, asset_id, kind)
                )
                """,
                """
                CREATE TABLE ems_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL DEFAULT 'default',
                    episode_id TEXT NOT NULL REFERENCES anomaly_episodes (id),
                    asset_id TEXT NOT NULL,
                    target TEXT NOT NULL CHECK (target IN ('event', 'alert')),
                    change TEXT NOT NULL CHECK (change IN ('open', 'escalate', 'close')),
                    idempotency_key TEXT NOT NULL UNIQUE,
                    payload TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'parked')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at TEXT NOT NULL,
                    last_error TEXT,
                    created_at TEXT NOT NULL,
                    delivered_at TEXT
                )
                """,
                "CREATE INDEX ems_outbox_due ON ems_outbox (state, next_attempt_at, id)",
                "CREATE INDEX ems_outbox_episode ON ems_outbox (episode_id, state, id)",
                "CREATE INDEX ems_outbox_tenant_state ON ems_outbox (tenant_id, state, id)",
                "CREATE INDEX anomaly_scores_tenant_id ON anomaly_scores (tenant_id, id)",
            ]),
        // The fleet's serving state (one row, a version counter every replica follows), the
        // replicas' heartbeats, and failed password checks counted across replicas (FleetStore,
        // LoginFailureStore). Not tenant data: one hazard model serves every tenant.
        Migration(
            version: 5, name: "fleet_state, fleet_replicas, login_failures",
            postgres: [
                """
                CREATE TABLE fleet_state (
                    id SMALLINT PRIMARY KEY CHECK (id = 1),
                    reference TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    updated_by TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE fleet_replicas (
                    replica_id TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    fleet_version BIGINT NOT NULL,
                    run_id TEXT,
                    ready BOOLEAN NOT NULL,
                    diverged_reason TEXT,
                    started_at TIMESTAMPTZ NOT NULL,
                    last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE login_failures (
                    id BIGSERIAL PRIMARY KEY,
                    key TEXT NOT NULL,
                    failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX login_failures_key_time ON login_failures (key, failed_at)",
            ],
            sqlite: [
                """
                CREATE TABLE fleet_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    reference TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    updated_by TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                """
                CREATE TABLE fleet_replicas (
                    replica_id TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    fleet_version INTEGER NOT NULL,
                    run_id TEXT,
                    ready INTEGER NOT NULL,
                    diverged_reason TEXT,
                    started_at TEXT NOT NULL,
                    last_seen TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                """
                CREATE TABLE login_failures (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    key TEXT NOT NULL,
                    failed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                )
                """,
                "CREATE INDEX login_failures_key_time ON login_failures (key, failed_at)",
            ]),
        // The champion/challenger experiment every replica runs (one row, a version per start)
        // and each replica's counters for it, summed when read (FleetStore).
        Migration(
            version: 6, name: "fleet_experiment, fleet_experiment_counters",
            postgres: [
                """
                CREATE TABLE fleet_experiment (
                    id SMALLINT PRIMARY KEY CHECK (id = 1),
                    version BIGINT NOT NULL,
                    reference TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    percent INTEGER NOT NULL,
                    sticky TEXT NOT NULL,
                    status TEXT NOT NULL,
                    reason TEXT,
                    started_by TEXT NOT NULL,
                    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    ended_at TIMESTAMPTZ
                )
                """,
                """
                CREATE TABLE fleet_experiment_counters (
                    version BIGINT NOT NULL,
                    replica_id TEXT NOT NULL,
                    counters TEXT NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (version, replica_id)
                )
                """,
            ],
            sqlite: [
                """
                CREATE TABLE fleet_experiment (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL,
                    reference TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    percent INTEGER NOT NULL,
                    sticky TEXT NOT NULL,
                    status TEXT NOT NULL,
                    reason TEXT,
                    started_by TEXT NOT NULL,
                    started_at TEXT NOT NULL,
                    ended_at TEXT
                )
                """,
                """
                CREATE TABLE fleet_experiment_counters (
                    version INTEGER NOT NULL,
                    replica_id TEXT NOT NULL,
                    counters TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (version, replica_id)
                )
                """,
            ]),
    ]
}
