import Foundation
import Logging
import PostgresNIO

/// The fleet's state in PostgreSQL: every replica on the database reads and writes the one
/// `fleet_state` row and hears changes on `LISTEN inference_fleet`.
public struct PostgresFleetStore: FleetStore {
    let database: PostgresStoreDatabase
    public var isShared: Bool { true }

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    private static let stateColumns = "reference, run_id, version, updated_by, reason, updated_at"

    private static func decodeState(_ rows: PostgresRowSequence) async throws -> FleetState? {
        for try await row in rows.decode((String, String, Int64, String, String, Date).self) {
            return FleetState(reference: row.0, runId: row.1, version: row.2, updatedBy: row.3, reason: row.4, updatedAt: row.5)
        }
        return nil
    }

    public func state() async throws -> FleetState? {
        try await database.guarded {
            try await Self.decodeState(
                try await database.client.query("SELECT \(unescaped: Self.stateColumns) FROM fleet_state WHERE id = 1", logger: database.logger))
        }
    }

    public func seed(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                try await connection.query(
                    """
                    INSERT INTO fleet_state (id, reference, run_id, version, updated_by, reason)
                    VALUES (1, \(reference), \(runId), 1, \(replica), \(reason)) ON CONFLICT (id) DO NOTHING
                    """, logger: database.logger)
                let rows = try await connection.query("SELECT \(unescaped: Self.stateColumns) FROM fleet_state WHERE id = 1", logger: database.logger)
                guard let state = try await Self.decodeState(rows) else {
                    throw StoreError(backend: database.backend, message: "fleet_state has no row after seeding it")
                }
                return state
            }
        }
    }

    public func publish(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO fleet_state (id, reference, run_id, version, updated_by, reason)
                    VALUES (1, \(reference), \(runId), 1, \(replica), \(reason))
                    ON CONFLICT (id) DO UPDATE SET reference = EXCLUDED.reference, run_id = EXCLUDED.run_id,
                        version = fleet_state.version + 1, updated_by = EXCLUDED.updated_by, reason = EXCLUDED.reason, updated_at = now()
                    RETURNING \(unescaped: Self.stateColumns)
                    """, logger: database.logger)
                guard let state = try await Self.decodeState(rows) else {
                    throw StoreError(backend: database.backend, message: "fleet_state returned no row")
                }
                // Delivered when the transaction commits, never before: a replica that hears it reads the new row.
                try await connection.query(
                    "SELECT pg_notify(\(FleetChannel.name), \(FleetChannel.modelPayload(version: state.version)))", logger: database.logger)
                return state
            }
        }
    }

    public func beat(_ replica: ReplicaRecord) async throws {
        try await database.guarded {
            _ = try await database.client.query(
                """
                INSERT INTO fleet_replicas (replica_id, host, fleet_version, run_id, ready, diverged_reason, started_at, last_seen)
                VALUES (\(replica.replicaId), \(replica.host), \(replica.fleetVersion), \(replica.runId), \(replica.ready),
                        \(replica.divergedReason), \(replica.startedAt), now())
                ON CONFLICT (replica_id) DO UPDATE SET host = EXCLUDED.host, fleet_version = EXCLUDED.fleet_version,
                    run_id = EXCLUDED.run_id, ready = EXCLUDED.ready, diverged_reason = EXCLUDED.diverged_reason,
                    started_at = EXCLUDED.started_at, last_seen = now()
                """, logger: database.logger)
        }
    }

    public func replicas(seenWithin seconds: Int) async throws -> [ReplicaRecord] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT replica_id, host, fleet_version, run_id, ready, diverged_reason, started_at, last_seen FROM fleet_replicas
                WHERE last_seen > now() - make_interval(secs => \(Double(seconds))) ORDER BY replica_id LIMIT 1000
                """, logger: database.logger)
            var out: [ReplicaRecord] = []
            for try await row in rows.decode((String, String, Int64, String?, Bool, String?, Date, Date).self) {
                out.append(
                    ReplicaRecord(
                        replicaId: row.0, host: row.1, fleetVersion: row.2, runId: row.3, ready: row.4, divergedReason: row.5, startedAt: row.6,
                        lastSeen: row.7))
            }
            return out
        }
    }

    private static let experimentColumns = "version, reference, run_id, mode, percent, sticky, status, reason, started_by, started_at, ended_at"

    private static func decodeExperiment(_ rows: PostgresRowSequence) async throws -> FleetExperiment? {
        for try await row in rows.decode((Int64, String, String, String, Int, String, String, String?, String, Date, Date?).self) {
            return FleetExperiment(
                version: row.0, reference: row.1, runId: row.2, mode: row.3, percent: row.4, sticky: row.5,
                status: FleetExperiment.Status(rawValue: row.6) ?? .ended, reason: row.7, startedBy: row.8, startedAt: row.9, endedAt: row.10)
        }
        return nil
    }

    public func experiment() async throws -> FleetExperiment? {
        try await database.guarded {
            try await Self.decodeExperiment(
                try await database.client.query(
                    "SELECT \(unescaped: Self.experimentColumns) FROM fleet_experiment WHERE id = 1", logger: database.logger))
        }
    }

    public func startExperiment(_ start: ExperimentStart, by replica: String) async throws -> FleetExperiment {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO fleet_experiment (id, version, reference, run_id, mode, percent, sticky, status, reason, started_by, started_at, ended_at)
                    VALUES (1, 1, \(start.reference), \(start.runId), \(start.mode), \(start.percent), \(start.sticky), 'running', NULL, \(replica), now(), NULL)
                    ON CONFLICT (id) DO UPDATE SET version = fleet_experiment.version + 1, reference = EXCLUDED.reference,
                        run_id = EXCLUDED.run_id, mode = EXCLUDED.mode, percent = EXCLUDED.percent, sticky = EXCLUDED.sticky,
                        status = 'running', reason = NULL, started_by = EXCLUDED.started_by, started_at = now(), ended_at = NULL
                    RETURNING \(unescaped: Self.experimentColumns)
                    """, logger: database.logger)
                guard let experiment = try await Self.decodeExperiment(rows) else {
                    throw StoreError(backend: database.backend, message: "fleet_experiment returned no row")
                }
                try await connection.query("SELECT pg_notify(\(FleetChannel.name), \(FleetChannel.experimentPayload))", logger: database.logger)
                return experiment
            }
        }
    }

    public func endExperiment(version: Int64, status: FleetExperiment.Status, reason: String) async throws -> FleetExperiment? {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                try await connection.query(
                    """
                    UPDATE fleet_experiment SET status = \(status.rawValue), reason = \(reason), ended_at = now()
                    WHERE id = 1 AND version = \(version) AND status = 'running'
                    """, logger: database.logger)
                try await connection.query("SELECT pg_notify(\(FleetChannel.name), \(FleetChannel.experimentPayload))", logger: database.logger)
                return try await Self.decodeExperiment(
                    try await connection.query("SELECT \(unescaped: Self.experimentColumns) FROM fleet_experiment WHERE id = 1", logger: database.logger))
            }
        }
    }

    public func writeExperimentCounters(version: Int64, replica: String, counters: String) async throws {
        try await database.guarded {
            _ = try await database.client.query(
                """
                INSERT INTO fleet_experiment_counters (version, replica_id, counters, updated_at) VALUES (\(version), \(replica), \(counters), now())
                ON CONFLICT (version, replica_id) DO UPDATE SET counters = EXCLUDED.counters, updated_at = now()
                """, logger: database.logger)
        }
    }

    public func experimentCounters(version: Int64) async throws -> [String] {
        try await database.guarded {
            let rows = try await database.client.query(
                "SELECT counters FROM fleet_experiment_counters WHERE version = \(version) ORDER BY replica_id LIMIT 1000", logger: database.logger)
            var out: [String] = []
            for try await row in rows.decode(String.self) { out.append(row) }
            return out
        }
    }

    /// Holds one pooled connection for `LISTEN`; when it drops, waits a second and takes another.
    public func listen(_ handler: @escaping @Sendable (FleetEvent) async -> Void) async throws {
        while !Task.isCancelled {
            do {
                try await database.client.withConnection { connection in
                    try await connection.listen(on: FleetChannel.name) { notifications in
                        await handler(.subscribed)
                        for try await notification in notifications {
                            if let event = FleetChannel.event(notification.payload) { await handler(event) }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                database.logger.warning("fleet: LISTEN connection lost, subscribing again", metadata: ["error": "\(PostgresStoreDatabase.summary(error))"])
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
