import Foundation
import SQLiteNIO

/// The fleet's state in the SQLite file: this process's own (`isShared` false). One process on
/// one file is the whole fleet, so there is nobody to notify and nothing to hear.
public struct SQLiteFleetStore: FleetStore {
    let database: SQLiteStoreDatabase
    public var isShared: Bool { false }

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    private func readState() async throws -> FleetState? {
        try await database.rows("SELECT * FROM fleet_state WHERE id = 1").compactMap { row -> FleetState? in
            guard let reference = row.column("reference")?.string, let runId = row.column("run_id")?.string,
                let version = row.column("version")?.integer, let by = row.column("updated_by")?.string, let reason = row.column("reason")?.string,
                let at = row.column("updated_at")?.string.flatMap(StoreTime.parse)
            else { return nil }
            return FleetState(reference: reference, runId: runId, version: Int64(version), updatedBy: by, reason: reason, updatedAt: at)
        }.first
    }

    public func state() async throws -> FleetState? { try await readState() }

    public func seed(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState {
        try await write(reference: reference, runId: runId, by: replica, reason: reason, overwrite: false)
    }

    public func publish(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState {
        try await write(reference: reference, runId: runId, by: replica, reason: reason, overwrite: true)
    }

    private func write(reference: String, runId: String, by replica: String, reason: String, overwrite: Bool) async throws -> FleetState {
        try await database.transaction {
            let conflict =
                overwrite
                ? """
                DO UPDATE SET reference = excluded.reference, run_id = excluded.run_id, version = fleet_state.version + 1,
                    updated_by = excluded.updated_by, reason = excluded.reason, updated_at = excluded.updated_at
                """ : "DO NOTHING"
            _ = try await database.rows(
                """
                INSERT INTO fleet_state (id, reference, run_id, version, updated_by, reason, updated_at) VALUES (1, ?, ?, 1, ?, ?, ?)
                ON CONFLICT (id) \(conflict)
                """, [.text(reference), .text(runId), .text(replica), .text(reason), .text(StoreTime.format(Date()))])
            guard let state = try await readState() else { throw StoreError(backend: "sqlite", message: "fleet_state has no row") }
            return state
        }
    }

    public func beat(_ replica: ReplicaRecord) async throws {
        _ = try await database.rows(
            """
            INSERT INTO fleet_replicas (replica_id, host, fleet_version, run_id, ready, diverged_reason, started_at, last_seen)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (replica_id) DO UPDATE SET host = excluded.host, fleet_version = excluded.fleet_version, run_id = excluded.run_id,
                ready = excluded.ready, diverged_reason = excluded.diverged_reason, started_at = excluded.started_at, last_seen = excluded.last_seen
            """,
            [
                .text(replica.replicaId), .text(replica.host), .integer(Int(replica.fleetVersion)), replica.runId.map(SQLiteData.text) ?? .null,
                .integer(replica.ready ? 1 : 0), replica.divergedReason.map(SQLiteData.text) ?? .null, .text(StoreTime.format(replica.startedAt)),
                .text(StoreTime.format(Date())),
            ])
    }

    public func replicas(seenWithin seconds: Int) async throws -> [ReplicaRecord] {
        let since = StoreTime.format(Date().addingTimeInterval(-Double(seconds)))
        return try await database.rows("SELECT * FROM fleet_replicas WHERE last_seen > ? ORDER BY replica_id LIMIT 1000", [.text(since)])
            .compactMap { row in
                guard let id = row.column("replica_id")?.string, let host = row.column("host")?.string,
                    let version = row.column("fleet_version")?.integer, let ready = row.column("ready")?.integer,
                    let started = row.column("started_at")?.string.flatMap(StoreTime.parse)
                else { return nil }
                return ReplicaRecord(
                    replicaId: id, host: host, fleetVersion: Int64(version), runId: row.column("run_id")?.string, ready: ready != 0,
                    divergedReason: row.column("diverged_reason")?.string, startedAt: started,
                    lastSeen: row.column("last_seen")?.string.flatMap(StoreTime.parse))
            }
    }

    private func readExperiment() async throws -> FleetExperiment? {
        try await database.rows("SELECT * FROM fleet_experiment WHERE id = 1").compactMap { row -> FleetExperiment? in
            guard let version = row.column("version")?.integer, let reference = row.column("reference")?.string,
                let runId = row.column("run_id")?.string, let mode = row.column("mode")?.string, let percent = row.column("percent")?.integer,
                let sticky = row.column("sticky")?.string, let status = row.column("status")?.string.flatMap(FleetExperiment.Status.init),
                let by = row.column("started_by")?.string, let startedAt = row.column("started_at")?.string.flatMap(StoreTime.parse)
            else { return nil }
            return FleetExperiment(
                version: Int64(version), reference: reference, runId: runId, mode: mode, percent: percent, sticky: sticky, status: status,
                reason: row.column("reason")?.string, startedBy: by, startedAt: startedAt,
                endedAt: row.column("ended_at")?.string.flatMap(StoreTime.parse))
        }.first
    }

    public func experiment() async throws -> FleetExperiment? { try await readExperiment() }

    public func startExperiment(_ start: ExperimentStart, by replica: String) async throws -> FleetExperiment {
        try await database.transaction {
            _ = try await database.rows(
                """
                INSERT INTO fleet_experiment (id, version, reference, run_id, mode, percent, sticky, status, reason, started_by, started_at, ended_at)
                VALUES (1, 1, ?, ?, ?, ?, ?, 'running', NULL, ?, ?, NULL)
                ON CONFLICT (id) DO UPDATE SET version = fleet_experiment.version + 1, reference = excluded.reference,
                    run_id = excluded.run_id, mode = excluded.mode, percent = excluded.percent, sticky = excluded.sticky,
                    status = 'running', reason = NULL, started_by = excluded.started_by, started_at = excluded.started_at, ended_at = NULL
                """,
                [
                    .text(start.reference), .text(start.runId), .text(start.mode), .integer(start.percent), .text(start.sticky), .text(replica),
                    .text(StoreTime.format(Date())),
                ])
            guard let experiment = try await readExperiment() else { throw StoreError(backend: "sqlite", message: "fleet_experiment has no row") }
            return experiment
        }
    }

    public func endExperiment(version: Int64, status: FleetExperiment.Status, reason: String) async throws -> FleetExperiment? {
        try await database.transaction {
            _ = try await database.rows(
                "UPDATE fleet_experiment SET status = ?, reason = ?, ended_at = ? WHERE id = 1 AND version = ? AND status = 'running'",
                [.text(status.rawValue), .text(reason), .text(StoreTime.format(Date())), .integer(Int(version))])
            return try await readExperiment()
        }
    }

    public func writeExperimentCounters(version: Int64, replica: String, counters: String) async throws {
        _ = try await database.rows(
            """
            INSERT INTO fleet_experiment_counters (version, replica_id, counters, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (version, replica_id) DO UPDATE SET counters = excluded.counters, updated_at = excluded.updated_at
            """, [.integer(Int(version)), .text(replica), .text(counters), .text(StoreTime.format(Date()))])
    }

    public func experimentCounters(version: Int64) async throws -> [String] {
        try await database.rows(
            "SELECT counters FROM fleet_experiment_counters WHERE version = ? ORDER BY replica_id LIMIT 1000", [.integer(Int(version))]
        ).compactMap { $0.column("counters")?.string }
    }

    public func listen(_ handler: @escaping @Sendable (FleetEvent) async -> Void) async throws {
        await handler(.subscribed)
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }
}
