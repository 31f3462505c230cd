import Foundation
import SQLiteNIO

/// Hazard feedback in SQLite (`hazard_feedback`).
public struct SQLiteFeedbackStore: FeedbackStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func recordFeedback(_ rows: [FeedbackRecord], receipt: IdempotencyReceipt?) async throws {
        guard !rows.isEmpty else { return }
        try await database.transaction {
            if let receipt { try await database.claim(receipt) }
            for chunk in stride(from: 0, to: rows.count, by: SQLiteStoreDatabase.insertChunk) {
                let part = rows[chunk..<min(chunk + SQLiteStoreDatabase.insertChunk, rows.count)]
                var binds: [SQLiteData] = []
                binds.reserveCapacity(part.count * 6)
                for r in part {
                    binds += [
                        .text(r.tenantId), .text(r.runId), .text(MetricsJSON.encode(r.features)), .integer(r.outcome), .float(r.probability),
                        r.moduleId.map(SQLiteData.text) ?? .null,
                    ]
                }
                _ = try await database.rows(
                    "INSERT INTO hazard_feedback (tenant_id, run_id, features, outcome, probability, module_id) VALUES "
                        + SQLiteStoreDatabase.placeholders(rows: part.count, columns: 6), binds)
            }
        }
    }

    public func feedback(tenantId: String, limit: Int) async throws -> [FeedbackRecord] {
        let rows = try await database.rows(
            """
            SELECT id, tenant_id, run_id, features, outcome, probability, module_id, created_at FROM hazard_feedback
            WHERE tenant_id = ? ORDER BY id DESC LIMIT ?
            """, [.text(tenantId), .integer(limit)])
        return rows.compactMap { row in
            guard let id = row.column("id")?.integer, let tenant = row.column("tenant_id")?.string, let run = row.column("run_id")?.string,
                let features = row.column("features")?.string, let outcome = row.column("outcome")?.integer,
                let probability = row.column("probability")?.double
            else { return nil }
            return FeedbackRecord(
                id: Int64(id), tenantId: tenant, runId: run, features: MetricsJSON.decode(features), outcome: outcome, probability: probability,
                moduleId: row.column("module_id")?.string, createdAt: row.column("created_at")?.string.flatMap(StoreTime.parse))
        }
    }
}
