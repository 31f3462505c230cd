import AnomalyDetection
import Foundation
import SQLiteNIO

/// The EMS Core outbox (`ems_outbox`) in SQLite; its rows are written by the episode store's
/// transactions, with the scores behind them.
public struct SQLiteOutboxStore: OutboxStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        try await database.transaction {
            let due = try await database.rows(
                """
                SELECT * FROM ems_outbox o
                WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
                  AND NOT EXISTS (SELECT 1 FROM ems_outbox p WHERE p.episode_id = o.episode_id AND p.state = 'pending' AND p.id < o.id)
                ORDER BY o.id LIMIT ?2
                """, [StoreTime.data(now), .integer(limit)]
            ).compactMap(SQLiteStoreDatabase.message)
            for message in due {
                _ = try await database.rows(
                    "UPDATE ems_outbox SET next_attempt_at = ? WHERE id = ?", [StoreTime.data(leaseUntil), .integer(Int(message.id ?? 0))])
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
                        [StoreTime.data(at), .integer(Int(result.id))])
                case .retry(let attempts, let at, let error):
                    _ = try await database.rows(
                        "UPDATE ems_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'pending'",
                        [.integer(attempts), StoreTime.data(at), .text(error), .integer(Int(result.id))])
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
                "UPDATE ems_outbox SET next_attempt_at = ?1 WHERE state = 'pending' AND next_attempt_at > ?1", [StoreTime.data(now)])
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
                [StoreTime.data(now), .text(tenantId)])
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
