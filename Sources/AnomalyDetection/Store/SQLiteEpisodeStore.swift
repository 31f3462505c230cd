import Foundation
import SQLiteNIO

/// Episodes and the EMS Core outbox in SQLite.
public struct SQLiteEpisodeStore: EpisodeStore, OutboxStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    private static func time(_ date: Date?) -> SQLiteData { date.map { .text(StoreTime.format($0)) } ?? .null }

    public func episodes(_ q: EpisodeQuery) async throws -> [Episode] {
        let rows = try await database.rows(
            """
            SELECT * FROM anomaly_episodes
            WHERE tenant_id = ?1 AND (?2 IS NULL OR asset_id = ?2) AND (?3 IS NULL OR state = ?3)
              AND (?4 IS NULL OR started_at >= ?4) AND (?5 IS NULL OR started_at < ?5)
              AND (?6 IS NULL OR started_at < ?6 OR (started_at = ?6 AND id < ?7))
            ORDER BY started_at DESC, id DESC LIMIT ?8
            """,
            [
                .text(q.tenantId), q.assetId.map(SQLiteData.text) ?? .null, q.state.map { .text($0.rawValue) } ?? .null, Self.time(q.from),
                Self.time(q.to), Self.time(q.after?.startedAt), q.after.map { .text($0.id) } ?? .null, .integer(q.limit),
            ])
        return rows.compactMap(SQLiteStoreDatabase.episode)
    }

    public func recordEpisodes(tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy) async throws -> EpisodeBatch {
        try await database.transaction {
            try await database.recordEpisodes(tenantId: tenantId, kind: kind, observations: observations, policy: policy)
        }
    }

    public func liveTrackers(kind: String) async throws -> [(tenantId: String, assetId: String)] {
        try await database.rows(
            "SELECT tenant_id, asset_id FROM episode_trackers WHERE kind = ? AND (pending_run > 0 OR open_episode_id IS NOT NULL) LIMIT 100000",
            [.text(kind)]
        ).compactMap { row in
            guard let tenant = row.column("tenant_id")?.string, let asset = row.column("asset_id")?.string else { return nil }
            return (tenant, asset)
        }
    }

    public func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        try await database.transaction {
            let due = try await database.rows(
                """
                SELECT * FROM ems_outbox o
                WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
                  AND NOT EXISTS (SELECT 1 FROM ems_outbox p WHERE p.episode_id = o.episode_id AND p.state = 'pending' AND p.id < o.id)
                ORDER BY o.id LIMIT ?2
                """, [Self.time(now), .integer(limit)]
            ).compactMap(SQLiteStoreDatabase.message)
            for message in due {
                _ = try await database.rows(
                    "UPDATE ems_outbox SET next_attempt_at = ? WHERE id = ?", [Self.time(leaseUntil), .integer(Int(message.id ?? 0))])
            }
            return due.map { var m = $0; m.nextAttemptAt = leaseUntil; return m }
        }
    }

    public func settle(_ results: [OutboxResult]) async throws {
        guard !results.isEmpty else { return }
        try await database.transaction {
            for result in results {
                switch result.outcome {
                case .delivered(let at):
                    _ = try await database.rows(
                        "UPDATE ems_outbox SET state = 'delivered', delivered_at = ?, last_error = NULL WHERE id = ? AND state = 'pending'",
                        [Self.time(at), .integer(Int(result.id))])
                case .retry(let attempts, let at, let error):
                    _ = try await database.rows(
                        "UPDATE ems_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'pending'",
                        [.integer(attempts), Self.time(at), .text(error), .integer(Int(result.id))])
                case .parked(let attempts, let reason):
                    _ = try await database.rows(
                        "UPDATE ems_outbox SET state = 'parked', attempts = ?, last_error = ? WHERE id = ? AND state = 'pending'",
                        [.integer(attempts), .text(reason), .integer(Int(result.id))])
                }
            }
        }
    }

    public func expedite(now: Date) async throws {
        try await database.transaction {
            _ = try await database.rows(
                "UPDATE ems_outbox SET next_attempt_at = ?1 WHERE state = 'pending' AND next_attempt_at > ?1", [Self.time(now)])
        }
    }

    public func messages(tenantId: String, state: OutboxMessage.State, afterId: Int64?, limit: Int) async throws -> [OutboxMessage] {
        try await database.rows(
            "SELECT * FROM ems_outbox WHERE tenant_id = ? AND state = ? AND id > ? ORDER BY id LIMIT ?",
            [.text(tenantId), .text(state.rawValue), .integer(Int(afterId ?? 0)), .integer(limit)]
        ).compactMap(SQLiteStoreDatabase.message)
    }

    public func retryParked(tenantId: String, ids: [Int64]?, now: Date) async throws -> Int {
        try await database.transaction {
            let chosen = ids.map { list in " AND id IN (" + list.map { String($0) }.joined(separator: ",") + ")" } ?? ""
            if let ids, ids.isEmpty { return 0 }
            let rows = try await database.rows(
                "UPDATE ems_outbox SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE tenant_id = ? AND state = 'parked'\(chosen) RETURNING id",
                [Self.time(now), .text(tenantId)])
            return rows.count
        }
    }

    public func counts() async throws -> OutboxCounts {
        let rows = try await database.rows(
            "SELECT state, count(*) AS n, min(created_at) AS oldest FROM ems_outbox GROUP BY state")
        var counts = OutboxCounts()
        for row in rows {
            let n = row.column("n")?.integer ?? 0
            switch row.column("state")?.string.flatMap(OutboxMessage.State.init(rawValue:)) {
            case .pending?:
                counts.pending = n
                counts.oldestPending = row.column("oldest")?.string.flatMap(StoreTime.parse)
            case .delivered?: counts.delivered = n
            case .parked?: counts.parked = n
            case nil: break
            }
        }
        return counts
    }
}
