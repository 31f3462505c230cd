import Foundation
import NIOCore
import SQLiteNIO

/// `model_metadata` rows, shared by the anomaly store (asset models) and the audit log
/// (hazard-model activations), and the row helpers of every SQLite store.
extension SQLiteStoreDatabase {
    /// Rows per multi-row INSERT, under SQLite's 32766 bound parameters.
    static let insertChunk = 2000

    /// Inserts `model` as `active` and retires the previous active one of its tenant, type and asset.
    func saveActiveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)? = nil) async throws -> ModelRecord {
        try await transaction {
            _ = try await self.rows(
                "UPDATE model_metadata SET status = 'retired' WHERE tenant_id = ? AND model_type = ? AND status = 'active' AND asset_id IS ?",
                [.text(model.tenantId), .text(model.modelType), model.assetId.map(SQLiteData.text) ?? .null])
            let rows = try await self.rows(
                """
                INSERT INTO model_metadata (tenant_id, model_type, model_version, asset_id, training_date, metrics, parameters, status, artifact, artifact_path, metadata)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?) RETURNING id, created_at
                """,
                [
                    .text(model.tenantId), .text(model.modelType), .text(model.modelVersion), model.assetId.map(SQLiteData.text) ?? .null,
                    .text(StoreTime.format(model.trainingDate)), .text(model.metrics), .text(model.parameters),
                    model.artifact.map { .blob(ByteBuffer(bytes: $0)) } ?? .null, model.artifactPath.map(SQLiteData.text) ?? .null, .text(model.metadata),
                ])
            var saved = model
            saved.status = "active"
            saved.id = rows.first?.column("id")?.integer.map(Int64.init)
            saved.createdAt = rows.first?.column("created_at")?.string.flatMap(StoreTime.parse)
            if let receipt { try await self.claim(receipt(saved)) }
            return saved
        }
    }

    func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
        try await self.rows(
            "SELECT * FROM model_metadata WHERE tenant_id = ? AND model_type = ? AND status = 'active' AND asset_id IS ? ORDER BY id DESC LIMIT 1",
            [.text(tenantId), .text(modelType), assetId.map(SQLiteData.text) ?? .null]
        ).compactMap { Self.model($0, withArtifact: true) }.first
    }

    // MARK: - Helpers

    static func placeholders(rows: Int, columns: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        return Array(repeating: row, count: rows).joined(separator: ",")
    }

    static func sample(_ row: SQLiteRow) -> MetricSample? {
        guard let time = row.column("timestamp")?.string.flatMap(StoreTime.parse), let metrics = row.column("metrics")?.string else { return nil }
        return MetricSample(timestamp: time, metrics: MetricsJSON.decode(metrics))
    }

    static func model(_ row: SQLiteRow, withArtifact: Bool) -> ModelRecord? {
        guard let id = row.column("id")?.integer, let tenant = row.column("tenant_id")?.string, let type = row.column("model_type")?.string,
            let version = row.column("model_version")?.string,
            let trained = row.column("training_date")?.string.flatMap(StoreTime.parse), let status = row.column("status")?.string
        else { return nil }
        var artifact: [UInt8]?
        if withArtifact, let blob = row.column("artifact")?.blob { artifact = Array(blob.readableBytesView) }
        return ModelRecord(
            id: Int64(id), tenantId: tenant, modelType: type, modelVersion: version, assetId: row.column("asset_id")?.string,
            trainingDate: trained, metrics: row.column("metrics")?.string ?? "{}", parameters: row.column("parameters")?.string ?? "{}",
            status: status, artifact: artifact, artifactPath: row.column("artifact_path")?.string, metadata: row.column("metadata")?.string ?? "{}",
            createdAt: row.column("created_at")?.string.flatMap(StoreTime.parse))
    }
}
