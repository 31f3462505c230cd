import Foundation
import NIOCore
import SQLiteNIO

extension SQLiteAnomalyStore {
    /// Rows per multi-row INSERT, under SQLite's 32766 bound parameters.
    static let insertChunk = 2000

    public func recordDetection(tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord]) async throws {
        try await transaction {
            for chunk in stride(from: 0, to: samples.count, by: Self.insertChunk) {
                let part = samples[chunk..<min(chunk + Self.insertChunk, samples.count)]
                var binds: [SQLiteData] = []
                binds.reserveCapacity(part.count * 4)
                for sample in part {
                    binds += [.text(tenantId), .text(assetId), .text(StoreTime.format(sample.timestamp)), .text(MetricsJSON.encode(sample.metrics))]
                }
                _ = try await self.rows(
                    "INSERT INTO metric_samples (tenant_id, asset_id, timestamp, metrics) VALUES " + Self.placeholders(rows: part.count, columns: 4),
                    binds)
            }
            for chunk in stride(from: 0, to: scores.count, by: Self.insertChunk) {
                let part = scores[chunk..<min(chunk + Self.insertChunk, scores.count)]
                var binds: [SQLiteData] = []
                binds.reserveCapacity(part.count * 10)
                for s in part {
                    binds += [
                        .text(tenantId), .text(assetId), .text(s.metricName), .float(s.score), .integer(s.isAnomaly ? 1 : 0), .float(s.threshold),
                        .text(s.method), s.modelId.map(SQLiteData.text) ?? .null, .text(s.metadata), .text(StoreTime.format(s.timestamp)),
                    ]
                }
                _ = try await self.rows(
                    "INSERT INTO anomaly_scores (tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp) VALUES "
                        + Self.placeholders(rows: part.count, columns: 10), binds)
            }
        }
    }

    public func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample] {
        let rows = try await self.rows(
            """
            SELECT timestamp, metrics FROM metric_samples
            WHERE tenant_id = ? AND asset_id = ? AND (?3 IS NULL OR timestamp < ?3)
            ORDER BY timestamp DESC, id DESC LIMIT ?
            """, [.text(tenantId), .text(assetId), before.map { .text(StoreTime.format($0)) } ?? .null, .integer(limit)])
        return rows.compactMap(Self.sample).reversed()
    }

    public func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] {
        let rows = try await self.rows(
            """
            SELECT timestamp, metrics FROM metric_samples
            WHERE tenant_id = ?1 AND asset_id = ?2 AND (?3 IS NULL OR timestamp >= ?3) AND (?4 IS NULL OR timestamp < ?4)
            ORDER BY timestamp, id LIMIT ?5
            """,
            [.text(tenantId), .text(assetId), from.map { .text(StoreTime.format($0)) } ?? .null, to.map { .text(StoreTime.format($0)) } ?? .null, .integer(limit)])
        return rows.compactMap(Self.sample)
    }

    public func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord] {
        let rows = try await self.rows(
            """
            SELECT id, tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp
            FROM anomaly_scores
            WHERE tenant_id = ?1 AND asset_id = ?2 AND (?3 IS NULL OR timestamp >= ?3) AND (?4 IS NULL OR metric_name = ?4)
              AND (?5 = 0 OR is_anomaly = 1)
            ORDER BY timestamp DESC, id DESC LIMIT ?6
            """,
            [
                .text(query.tenantId), .text(query.assetId), query.since.map { .text(StoreTime.format($0)) } ?? .null,
                query.metricName.map(SQLiteData.text) ?? .null, .integer(query.anomaliesOnly ? 1 : 0), .integer(query.limit),
            ])
        return rows.compactMap { row in
            guard let id = row.column("id")?.integer, let tenant = row.column("tenant_id")?.string, let asset = row.column("asset_id")?.string,
                let metric = row.column("metric_name")?.string, let score = row.column("score")?.double,
                let flag = row.column("is_anomaly")?.integer, let threshold = row.column("threshold")?.double,
                let method = row.column("method")?.string, let time = row.column("timestamp")?.string.flatMap(StoreTime.parse)
            else { return nil }
            return AnomalyScoreRecord(
                id: Int64(id), tenantId: tenant, assetId: asset, metricName: metric, score: score, isAnomaly: flag != 0, threshold: threshold,
                method: method, modelId: row.column("model_id")?.string, metadata: row.column("metadata")?.string ?? "{}", timestamp: time)
        }
    }

    public func saveModel(_ model: ModelRecord) async throws -> ModelRecord {
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
            return saved
        }
    }

    public func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
        try await self.rows(
            "SELECT * FROM model_metadata WHERE tenant_id = ? AND model_type = ? AND status = 'active' AND asset_id IS ? ORDER BY id DESC LIMIT 1",
            [.text(tenantId), .text(modelType), assetId.map(SQLiteData.text) ?? .null]
        ).compactMap { Self.model($0, withArtifact: true) }.first
    }

    public func models(tenantId: String, assetId: String?) async throws -> [ModelRecord] {
        try await self.rows(
            "SELECT * FROM model_metadata WHERE tenant_id = ?1 AND (?2 IS NULL OR asset_id = ?2) ORDER BY id DESC LIMIT 1000",
            [.text(tenantId), assetId.map(SQLiteData.text) ?? .null]
        ).compactMap { Self.model($0, withArtifact: false) }
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
