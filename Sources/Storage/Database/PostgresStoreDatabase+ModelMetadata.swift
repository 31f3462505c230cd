import Foundation
import NIOCore
import PostgresNIO

/// `model_metadata` rows, shared by the anomaly store (asset models) and the audit log
/// (hazard-model activations): one insert that retires the previous active row.
extension PostgresStoreDatabase {
    /// Rows per multi-row insert (UNNEST of arrays: one round trip, one plan).
    static let insertChunk = 5000

    /// Inserts `model` as `active` and retires the previous active one of its tenant, type and asset.
    func saveActiveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)? = nil) async throws -> ModelRecord {
        try await guarded {
            let artifact = model.artifact.map { ByteBuffer(bytes: $0) }
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    """
                    UPDATE model_metadata SET status = 'retired'
                    WHERE tenant_id = \(model.tenantId) AND model_type = \(model.modelType) AND status = 'active'
                      AND asset_id IS NOT DISTINCT FROM \(model.assetId)
                    """, logger: logger)
                let rows = try await connection.query(
                    """
                    INSERT INTO model_metadata (tenant_id, model_type, model_version, asset_id, training_date, metrics, parameters, status, artifact, artifact_path, metadata)
                    VALUES (\(model.tenantId), \(model.modelType), \(model.modelVersion), \(model.assetId), \(model.trainingDate),
                            \(model.metrics)::jsonb, \(model.parameters)::jsonb, 'active', \(artifact), \(model.artifactPath), \(model.metadata)::jsonb)
                    RETURNING id, created_at
                    """, logger: logger)
                var saved = model
                saved.status = "active"
                for try await (id, created) in rows.decode((Int64, Date).self) {
                    saved.id = id
                    saved.createdAt = created
                }
                if let receipt { try await claim(receipt(saved), on: connection) }
                // Other replicas drop their cached copy of the asset's model when this commits.
                if let assetId = model.assetId {
                    try await connection.query(
                        "SELECT pg_notify(\(FleetChannel.name), \(FleetChannel.assetPayload(tenantId: model.tenantId, assetId: assetId)))",
                        logger: logger)
                }
                return saved
            }
        }
    }

    func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
        try await guarded {
            try await modelRows(
                """
                SELECT \(unescaped: Self.modelColumns), artifact FROM model_metadata
                WHERE tenant_id = \(tenantId) AND model_type = \(modelType) AND status = 'active' AND asset_id IS NOT DISTINCT FROM \(assetId)
                ORDER BY id DESC LIMIT 1
                """, withArtifact: true
            ).first
        }
    }

    static let modelColumns =
        "id, tenant_id, model_type, model_version, asset_id, training_date, metrics::text, parameters::text, status, artifact_path, metadata::text, created_at"

    func modelRows(_ query: PostgresQuery, withArtifact: Bool) async throws -> [ModelRecord] {
        let rows = try await client.query(query, logger: logger)
        var out: [ModelRecord] = []
        for try await row in rows.decode((Int64, String, String, String, String?, Date, String, String, String, String?, String, Date, ByteBuffer?).self) {
            out.append(
                ModelRecord(
                    id: row.0, tenantId: row.1, modelType: row.2, modelVersion: row.3, assetId: row.4, trainingDate: row.5,
                    metrics: row.6, parameters: row.7, status: row.8, artifact: row.12.map { Array($0.readableBytesView) },
                    artifactPath: row.9, metadata: row.10, createdAt: row.11))
        }
        return out
    }
}
