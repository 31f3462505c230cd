import Foundation
import PostgresNIO

/// Hazard feedback in PostgreSQL (`hazard_feedback`).
public struct PostgresFeedbackStore: FeedbackStore {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    public func recordFeedback(_ rows: [FeedbackRecord], receipt: IdempotencyReceipt?) async throws {
        try await database.guarded {
            guard !rows.isEmpty else { return }
            try await database.client.withTransaction(logger: database.logger) { connection in
                if let receipt { try await database.claim(receipt, on: connection) }
                for chunk in stride(from: 0, to: rows.count, by: PostgresStoreDatabase.insertChunk) {
                    let part = rows[chunk..<min(chunk + PostgresStoreDatabase.insertChunk, rows.count)]
                    let tenants = part.map(\.tenantId), runs = part.map(\.runId), features = part.map { MetricsJSON.encode($0.features) }
                    let outcomes = part.map { Int16($0.outcome) }, probabilities = part.map(\.probability), modules = part.map { $0.moduleId ?? "" }
                    try await connection.query(
                        """
                        INSERT INTO hazard_feedback (tenant_id, run_id, features, outcome, probability, module_id)
                        SELECT te, r, f::jsonb, o, p, NULLIF(m, '')
                        FROM UNNEST(\(tenants)::text[], \(runs)::text[], \(features)::text[], \(outcomes)::int2[], \(probabilities)::float8[], \(modules)::text[])
                          AS u(te, r, f, o, p, m)
                        """, logger: database.logger)
                }
            }
        }
    }

    public func feedback(tenantId: String, limit: Int) async throws -> [FeedbackRecord] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT id, tenant_id, run_id, features::text, outcome, probability, module_id, created_at FROM hazard_feedback
                WHERE tenant_id = \(tenantId) ORDER BY id DESC LIMIT \(limit)
                """, logger: database.logger)
            var out: [FeedbackRecord] = []
            for try await row in rows.decode((Int64, String, String, String, Int16, Double, String?, Date).self) {
                out.append(
                    FeedbackRecord(
                        id: row.0, tenantId: row.1, runId: row.2, features: MetricsJSON.decode(row.3), outcome: Int(row.4), probability: row.5,
                        moduleId: row.6, createdAt: row.7))
            }
            return out
        }
    }
}
