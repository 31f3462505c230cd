import AnomalyDetection
import Foundation
import PostgresNIO

/// The EMS Core outbox (`ems_outbox`) in PostgreSQL; its rows are written by the episode store's
/// transactions, with the scores behind them.
public struct PostgresOutboxStore: OutboxStore {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    static let outboxColumns =
        "id, tenant_id, episode_id, asset_id, target, change, idempotency_key, payload::text, state, attempts, next_attempt_at, last_error, created_at, delivered_at"
    typealias OutboxRow = (Int64, String, String, String, String, String, String, String, String, Int, Date, String?, Date, Date?)

    static func message(_ r: OutboxRow) -> OutboxMessage {
        OutboxMessage(
            id: r.0, tenantId: r.1, episodeId: r.2, assetId: r.3, target: OutboxMessage.Target(rawValue: r.4) ?? .event,
            change: EpisodeChange(rawValue: r.5) ?? .open, idempotencyKey: r.6, payload: r.7, state: OutboxMessage.State(rawValue: r.8) ?? .pending,
            attempts: r.9, nextAttemptAt: r.10, lastError: r.11, createdAt: r.12, deliveredAt: r.13)
    }

    private func messages(_ query: PostgresQuery) async throws -> [OutboxMessage] {
        try await database.guarded {
            var out: [OutboxMessage] = []
            for try await row in try await database.client.query(query, logger: database.logger).decode(OutboxRow.self) {
                out.append(Self.message(row))
            }
            return out.sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        }
    }

    public func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        // SKIP LOCKED: replicas claiming at once split the due rows instead of waiting on each other.
        try await messages(
            """
            UPDATE ems_outbox SET next_attempt_at = \(leaseUntil)
            WHERE id IN (
                SELECT o.id FROM ems_outbox o
                WHERE o.state = 'pending' AND o.next_attempt_at <= \(now)
                  AND NOT EXISTS (SELECT 1 FROM ems_outbox p WHERE p.episode_id = o.episode_id AND p.state = 'pending' AND p.id < o.id)
                ORDER BY o.id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.outboxColumns)
            """)
    }

    public func settle(_ results: [OutboxResult]) async throws {
        guard !results.isEmpty else { return }
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                for result in results {
                    switch result.outcome {
                    case .delivered(let at):
                        try await connection.query(
                            "UPDATE ems_outbox SET state = 'delivered', delivered_at = \(at), last_error = NULL WHERE id = \(result.id) AND state = 'pending'",
                            logger: database.logger)
                    case .retry(let attempts, let at, let error):
                        try await connection.query(
                            """
                            UPDATE ems_outbox SET attempts = \(attempts), next_attempt_at = \(at), last_error = \(error)
                            WHERE id = \(result.id) AND state = 'pending'
                            """, logger: database.logger)
                    case .parked(let attempts, let reason):
                        try await connection.query(
                            """
                            UPDATE ems_outbox SET state = 'parked', attempts = \(attempts), last_error = \(reason)
                            WHERE id = \(result.id) AND state = 'pending'
                            """, logger: database.logger)
                    }
                }
            }
        }
    }

    public func expedite(now: Date) async throws {
        try await database.guarded {
            _ = try await database.client.query(
                "UPDATE ems_outbox SET next_attempt_at = \(now) WHERE state = 'pending' AND next_attempt_at > \(now)", logger: database.logger)
        }
    }

    public func messages(tenantId: String, state: OutboxMessage.State, afterId: Int64?, limit: Int) async throws -> [OutboxMessage] {
        try await messages(
            """
            SELECT \(unescaped: Self.outboxColumns) FROM ems_outbox
            WHERE tenant_id = \(tenantId) AND state = \(state.rawValue) AND id > \(afterId ?? 0)
            ORDER BY id LIMIT \(limit)
            """)
    }

    public func retryParked(tenantId: String, ids: [Int64]?, now: Date) async throws -> Int {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                UPDATE ems_outbox SET state = 'pending', attempts = 0, next_attempt_at = \(now)
                WHERE tenant_id = \(tenantId) AND state = 'parked' AND (\(ids == nil) OR id = ANY(\(ids ?? [])::int8[]))
                RETURNING id
                """, logger: database.logger)
            var count = 0
            for try await _ in rows { count += 1 }
            return count
        }
    }

    public func counts() async throws -> OutboxCounts {
        try await database.guarded {
            let rows = try await database.client.query(
                "SELECT state, count(*), min(created_at) FILTER (WHERE state = 'pending') FROM ems_outbox GROUP BY state", logger: database.logger)
            var counts = OutboxCounts()
            for try await (state, count, oldest) in rows.decode((String, Int, Date?).self) {
                switch OutboxMessage.State(rawValue: state) {
                case .pending?:
                    counts.pending = count
                    counts.oldestPending = oldest
                case .delivered?: counts.delivered = count
                case .parked?: counts.parked = count
                case nil: break
                }
            }
            return counts
        }
    }
}
