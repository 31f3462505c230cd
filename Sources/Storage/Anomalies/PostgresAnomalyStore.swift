import AnomalyDetection
import Foundation
import NIOCore
import PostgresNIO

/// Anomaly data in PostgreSQL: samples and scores by UNNEST of arrays (one round trip and one
/// plan per chunk), models in `model_metadata`.
public struct PostgresAnomalyStore: AnomalyStore {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    public func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], episodes: EpisodePolicy?,
        receipt: IdempotencyReceipt?
    ) async throws -> [EpisodeEvent] {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                if let receipt { try await database.claim(receipt, on: connection) }
                for chunk in stride(from: 0, to: samples.count, by: PostgresStoreDatabase.insertChunk) {
                    let part = samples[chunk..<min(chunk + PostgresStoreDatabase.insertChunk, samples.count)]
                    let times = part.map(\.timestamp)
                    var order = SortedPairs()
                    let metrics = part.map { MetricsJSON.encode($0.metrics, order: &order) }
                    try await connection.query(
                        """
                        INSERT INTO metric_samples (tenant_id, asset_id, timestamp, metrics)
                        SELECT \(tenantId), \(assetId), t, m::jsonb FROM UNNEST(\(times)::timestamptz[], \(metrics)::text[]) AS u(t, m)
                        """, logger: database.logger)
                }
                for chunk in stride(from: 0, to: scores.count, by: PostgresStoreDatabase.insertChunk) {
                    let part = scores[chunk..<min(chunk + PostgresStoreDatabase.insertChunk, scores.count)]
                    let names = part.map(\.metricName), values = part.map(\.score), flags = part.map(\.isAnomaly)
                    let thresholds = part.map(\.threshold), methods = part.map(\.method), models = part.map { $0.modelId ?? "" }
                    let metadata = part.map(\.metadata), times = part.map(\.timestamp)
                    try await connection.query(
                        """
                        INSERT INTO anomaly_scores (tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp)
                        SELECT \(tenantId), \(assetId), m, s, a, th, me, NULLIF(mo, ''), md::jsonb, t
                        FROM UNNEST(\(names)::text[], \(values)::float8[], \(flags)::bool[], \(thresholds)::float8[], \(methods)::text[],
                                    \(models)::text[], \(metadata)::text[], \(times)::timestamptz[]) AS u(m, s, a, th, me, mo, md, t)
                        """, logger: database.logger)
                }
                guard let episodes else { return [] }
                return try await database.recordEpisodes(
                    on: connection, tenantId: tenantId, assetId: assetId, kind: EpisodeInput.kind, observations: EpisodeInput.observations(scores),
                    policy: episodes
                ).events
            }
        }
    }

    public func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT timestamp, metrics::text FROM metric_samples
                WHERE tenant_id = \(tenantId) AND asset_id = \(assetId) AND (\(before)::timestamptz IS NULL OR timestamp < \(before))
                ORDER BY timestamp DESC, id DESC LIMIT \(limit)
                """, logger: database.logger)
            var out: [MetricSample] = []
            for try await (time, metrics) in rows.decode((Date, String).self) {
                out.append(MetricSample(timestamp: time, metrics: MetricsJSON.decode(metrics)))
            }
            return out.reversed()
        }
    }

    public func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT timestamp, metrics::text FROM metric_samples
                WHERE tenant_id = \(tenantId) AND asset_id = \(assetId)
                  AND (\(from)::timestamptz IS NULL OR timestamp >= \(from)) AND (\(to)::timestamptz IS NULL OR timestamp < \(to))
                ORDER BY timestamp, id LIMIT \(limit)
                """, logger: database.logger)
            var out: [MetricSample] = []
            for try await (time, metrics) in rows.decode((Date, String).self) {
                out.append(MetricSample(timestamp: time, metrics: MetricsJSON.decode(metrics)))
            }
            return out
        }
    }

    public func assets(tenantId: String) async throws -> [AssetSummary] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT asset_id, count(*), max(timestamp) FROM metric_samples WHERE tenant_id = \(tenantId)
                GROUP BY asset_id ORDER BY asset_id LIMIT 10000
                """, logger: database.logger)
            var out: [AssetSummary] = []
            for try await (asset, count, last) in rows.decode((String, Int64, Date?).self) {
                out.append(AssetSummary(assetId: asset, samples: Int(count), lastSample: last))
            }
            return out
        }
    }

    public func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord] {
        let afterMicros = query.after.map { Keyset.micros($0.timestamp) }
        return try await scoreRows(
            """
            SELECT id, tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata::text, timestamp
            FROM anomaly_scores
            WHERE tenant_id = \(query.tenantId) AND asset_id = \(query.assetId)
              AND (\(query.since)::timestamptz IS NULL OR timestamp >= \(query.since))
              AND (\(query.until)::timestamptz IS NULL OR timestamp < \(query.until))
              AND (\(afterMicros)::int8 IS NULL
                   OR (timestamp, id) < ('epoch'::timestamptz + \(afterMicros)::int8 * interval '1 microsecond', \(query.after?.id)::int8))
              AND (\(query.metricName)::text IS NULL OR metric_name = \(query.metricName))
              AND (NOT \(query.anomaliesOnly) OR is_anomaly)
            ORDER BY timestamp DESC, id DESC LIMIT \(query.limit)
            """)
    }

    public func scores(tenantId: String, afterId: Int64, settledBefore: Date, limit: Int) async throws -> [AnomalyScoreRecord] {
        try await scoreRows(
            """
            SELECT id, tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata::text, timestamp
            FROM anomaly_scores WHERE tenant_id = \(tenantId) AND id > \(afterId) AND created_at < \(settledBefore)
            ORDER BY id LIMIT \(limit)
            """)
    }

    private func scoreRows(_ query: PostgresQuery) async throws -> [AnomalyScoreRecord] {
        try await database.guarded {
            let rows = try await database.client.query(query, logger: database.logger)
            var out: [AnomalyScoreRecord] = []
            for try await row in rows.decode((Int64, String, String, String, Double, Bool, Double, String, String?, String, Date).self) {
                out.append(
                    AnomalyScoreRecord(
                        id: row.0, tenantId: row.1, assetId: row.2, metricName: row.3, score: row.4, isAnomaly: row.5, threshold: row.6,
                        method: row.7, modelId: row.8, metadata: row.9, timestamp: row.10))
            }
            return out
        }
    }

    public func saveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)?) async throws -> ModelRecord {
        try await database.saveActiveModel(model, receipt: receipt)
    }

    public func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
        try await database.activeModel(tenantId: tenantId, assetId: assetId, modelType: modelType)
    }

    public func models(tenantId: String, assetId: String?) async throws -> [ModelRecord] {
        try await database.guarded {
            try await database.modelRows(
                """
                SELECT \(unescaped: PostgresStoreDatabase.modelColumns), NULL::bytea FROM model_metadata
                WHERE tenant_id = \(tenantId) AND (\(assetId)::text IS NULL OR asset_id = \(assetId))
                ORDER BY id DESC LIMIT 1000
                """, withArtifact: false)
        }
    }
}
