import AnomalyDetection
import ComputeSupport
import Foundation
import NIOCore
import SQLiteNIO

/// Anomaly data in SQLite: samples and scores by multi-row INSERTs, models in `model_metadata`.
public struct SQLiteAnomalyStore: AnomalyStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], episodes: EpisodePolicy?,
        receipt: IdempotencyReceipt?
    ) async throws -> [EpisodeEvent] {
        try await database.transaction {
            if let receipt { try await database.claim(receipt) }
            for chunk in stride(from: 0, to: samples.count, by: SQLiteStoreDatabase.insertChunk) {
                let part = samples[chunk..<min(chunk + SQLiteStoreDatabase.insertChunk, samples.count)]
                var binds: [SQLiteData] = []
                binds.reserveCapacity(part.count * 4)
                for sample in part {
                    binds += [.text(tenantId), .text(assetId), .text(StoreTime.format(sample.timestamp)), .text(MetricsJSON.encode(sample.metrics))]
                }
                _ = try await database.rows(
                    "INSERT INTO metric_samples (tenant_id, asset_id, timestamp, metrics) VALUES " + SQLiteStoreDatabase.placeholders(rows: part.count, columns: 4),
                    binds)
            }
            for chunk in stride(from: 0, to: scores.count, by: SQLiteStoreDatabase.insertChunk) {
                let part = scores[chunk..<min(chunk + SQLiteStoreDatabase.insertChunk, scores.count)]
                var binds: [SQLiteData] = []
                binds.reserveCapacity(part.count * 10)
                for s in part {
                    binds += [
                        .text(tenantId), .text(assetId), .text(s.metricName), .float(s.score), .integer(s.isAnomaly ? 1 : 0), .float(s.threshold),
                        .text(s.method), s.modelId.map(SQLiteData.text) ?? .null, .text(s.metadata), .text(StoreTime.format(s.timestamp)),
                    ]
                }
                _ = try await database.rows(
                    "INSERT INTO anomaly_scores (tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp) VALUES "
                        + SQLiteStoreDatabase.placeholders(rows: part.count, columns: 10), binds)
            }
            guard let episodes else { return [] }
            return try await database.recordEpisodes(
                tenantId: tenantId, assetId: assetId, kind: EpisodeInput.kind, observations: EpisodeInput.observations(scores), policy: episodes
            ).events
        }
    }

    public func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample] {
        let rows = try await database.rows(
            """
            SELECT timestamp, metrics FROM metric_samples
            WHERE tenant_id = ? AND asset_id = ? AND (?3 IS NULL OR timestamp < ?3)
            ORDER BY timestamp DESC, id DESC LIMIT ?
            """, [.text(tenantId), .text(assetId), before.map { .text(StoreTime.format($0)) } ?? .null, .integer(limit)])
        return rows.compactMap(SQLiteStoreDatabase.sample).reversed()
    }

    public func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] {
        let rows = try await database.rows(
            """
            SELECT timestamp, metrics FROM metric_samples
            WHERE tenant_id = ?1 AND asset_id = ?2 AND (?3 IS NULL OR timestamp >= ?3) AND (?4 IS NULL OR timestamp < ?4)
            ORDER BY timestamp, id LIMIT ?5
            """,
            [.text(tenantId), .text(assetId), from.map { .text(StoreTime.format($0)) } ?? .null, to.map { .text(StoreTime.format($0)) } ?? .null, .integer(limit)])
        return rows.compactMap(SQLiteStoreDatabase.sample)
    }

    public func assets(tenantId: String) async throws -> [AssetSummary] {
        try await database.rows(
            "SELECT asset_id, count(*) AS n, max(timestamp) AS last FROM metric_samples WHERE tenant_id = ? GROUP BY asset_id ORDER BY asset_id LIMIT 10000",
            [.text(tenantId)]
        ).compactMap { row in
            guard let asset = row.column("asset_id")?.string, let count = row.column("n")?.integer else { return nil }
            return AssetSummary(assetId: asset, samples: count, lastSample: row.column("last")?.string.flatMap(StoreTime.parse))
        }
    }

    public func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord] {
        let rows = try await database.rows(
            """
            SELECT id, tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp
            FROM anomaly_scores
            WHERE tenant_id = ?1 AND asset_id = ?2 AND (?3 IS NULL OR timestamp >= ?3) AND (?4 IS NULL OR metric_name = ?4)
              AND (?5 = 0 OR is_anomaly = 1) AND (?7 IS NULL OR timestamp < ?7)
              AND (?8 IS NULL OR timestamp < ?8 OR (timestamp = ?8 AND id < ?9))
            ORDER BY timestamp DESC, id DESC LIMIT ?6
            """,
            [
                .text(query.tenantId), .text(query.assetId), query.since.map { .text(StoreTime.format($0)) } ?? .null,
                query.metricName.map(SQLiteData.text) ?? .null, .integer(query.anomaliesOnly ? 1 : 0), .integer(query.limit),
                query.until.map { .text(StoreTime.format($0)) } ?? .null, query.after.map { .text(StoreTime.format($0.timestamp)) } ?? .null,
                query.after.map { .integer(Int($0.id)) } ?? .null,
            ])
        return rows.compactMap(Self.score)
    }

    public func scores(tenantId: String, afterId: Int64, settledBefore: Date, limit: Int) async throws -> [AnomalyScoreRecord] {
        // created_at is SQLite's own millisecond text; the bound is written the same way.
        try await database.rows(
            """
            SELECT id, tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp
            FROM anomaly_scores WHERE tenant_id = ? AND id > ? AND created_at < ? ORDER BY id LIMIT ?
            """, [.text(tenantId), .integer(Int(afterId)), .text(ISO8601.format(settledBefore)), .integer(limit)]
        ).compactMap(Self.score)
    }

    static func score(_ row: SQLiteRow) -> AnomalyScoreRecord? {
        guard let id = row.column("id")?.integer, let tenant = row.column("tenant_id")?.string, let asset = row.column("asset_id")?.string,
            let metric = row.column("metric_name")?.string, let score = row.column("score")?.double,
            let flag = row.column("is_anomaly")?.integer, let threshold = row.column("threshold")?.double,
            let method = row.column("method")?.string, let time = row.column("timestamp")?.string.flatMap(StoreTime.parse)
        else { return nil }
        return AnomalyScoreRecord(
            id: Int64(id), tenantId: tenant, assetId: asset, metricName: metric, score: score, isAnomaly: flag != 0, threshold: threshold,
            method: method, modelId: row.column("model_id")?.string, metadata: row.column("metadata")?.string ?? "{}", timestamp: time)
    }

    public func saveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)?) async throws -> ModelRecord {
        try await database.saveActiveModel(model, receipt: receipt)
    }

    public func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
        try await database.activeModel(tenantId: tenantId, assetId: assetId, modelType: modelType)
    }

    public func models(tenantId: String, assetId: String?) async throws -> [ModelRecord] {
        try await database.rows(
            "SELECT * FROM model_metadata WHERE tenant_id = ?1 AND (?2 IS NULL OR asset_id = ?2) ORDER BY id DESC LIMIT 1000",
            [.text(tenantId), assetId.map(SQLiteData.text) ?? .null]
        ).compactMap { SQLiteStoreDatabase.model($0, withArtifact: false) }
    }
}
