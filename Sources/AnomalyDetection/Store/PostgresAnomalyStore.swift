import Foundation
import NIOCore
import PostgresNIO

extension PostgresAnomalyStore {
    /// Rows per multi-row insert (UNNEST of arrays: one round trip, one plan).
    static let insertChunk = 5000

    public func recordDetection(tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord]) async throws {
        try await guarded {
            try await client.withTransaction(logger: logger) { connection in
                for chunk in stride(from: 0, to: samples.count, by: Self.insertChunk) {
                    let part = samples[chunk..<min(chunk + Self.insertChunk, samples.count)]
                    let times = part.map(\.timestamp)
                    let metrics = part.map { MetricsJSON.encode($0.metrics) }
                    try await connection.query(
                        """
                        INSERT INTO metric_samples (tenant_id, asset_id, timestamp, metrics)
                        SELECT \(tenantId), \(assetId), t, m::jsonb FROM UNNEST(\(times)::timestamptz[], \(metrics)::text[]) AS u(t, m)
                        """, logger: logger)
                }
                for chunk in stride(from: 0, to: scores.count, by: Self.insertChunk) {
                    let part = scores[chunk..<min(chunk + Self.insertChunk, scores.count)]
                    let names = part.map(\.metricName), values = part.map(\.score), flags = part.map(\.isAnomaly)
                    let thresholds = part.map(\.threshold), methods = part.map(\.method), models = part.map { $0.modelId ?? "" }
                    let metadata = part.map(\.metadata), times = part.map(\.timestamp)
                    try await connection.query(
                        """
                        INSERT INTO anomaly_scores (tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata, timestamp)
                        SELECT \(tenantId), \(assetId), m, s, a, th, me, NULLIF(mo, ''), md::jsonb, t
                        FROM UNNEST(\(names)::text[], \(values)::float8[], \(flags)::bool[], \(thresholds)::float8[], \(methods)::text[],
                                    \(models)::text[], \(metadata)::text[], \(times)::timestamptz[]) AS u(m, s, a, th, me, mo, md, t)
                        """, logger: logger)
                }
            }
        }
    }

    public func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample] {
        try await guarded {
            let rows = try await client.query(
                """
                SELECT timestamp, metrics::text FROM metric_samples
                WHERE tenant_id = \(tenantId) AND asset_id = \(assetId) AND (\(before)::timestamptz IS NULL OR timestamp < \(before))
                ORDER BY timestamp DESC, id DESC LIMIT \(limit)
                """, logger: logger)
            var out: [MetricSample] = []
            for try await (time, metrics) in rows.decode((Date, String).self) {
                out.append(MetricSample(timestamp: time, metrics: MetricsJSON.decode(metrics)))
            }
            return out.reversed()
        }
    }

    public func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] {
        try await guarded {
            let rows = try await client.query(
                """
                SELECT timestamp, metrics::text FROM metric_samples
                WHERE tenant_id = \(tenantId) AND asset_id = \(assetId)
                  AND (\(from)::timestamptz IS NULL OR timestamp >= \(from)) AND (\(to)::timestamptz IS NULL OR timestamp < \(to))
                ORDER BY timestamp, id LIMIT \(limit)
                """, logger: logger)
            var out: [MetricSample] = []
            for try await (time, metrics) in rows.decode((Date, String).self) {
                out.append(MetricSample(timestamp: time, metrics: MetricsJSON.decode(metrics)))
            }
            return out
        }
    }

    public func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord] {
        try await guarded {
            let rows = try await client.query(
                """
                SELECT id, tenant_id, asset_id, metric_name, score, is_anomaly, threshold, method, model_id, metadata::text, timestamp
                FROM anomaly_scores
                WHERE tenant_id = \(query.tenantId) AND asset_id = \(query.assetId)
                  AND (\(query.since)::timestamptz IS NULL OR timestamp >= \(query.since))
                  AND (\(query.metricName)::text IS NULL OR metric_name = \(query.metricName))
                  AND (NOT \(query.anomaliesOnly) OR is_anomaly)
                ORDER BY timestamp DESC, id DESC LIMIT \(query.limit)
                """, logger: logger)
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

    public func saveModel(_ model: ModelRecord) async throws -> ModelRecord {
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
                return saved
            }
        }
    }

    public func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
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

    public func models(tenantId: String, assetId: String?) async throws -> [ModelRecord] {
        try await guarded {
            try await modelRows(
                """
                SELECT \(unescaped: Self.modelColumns), NULL::bytea FROM model_metadata
                WHERE tenant_id = \(tenantId) AND (\(assetId)::text IS NULL OR asset_id = \(assetId))
                ORDER BY id DESC LIMIT 1000
                """, withArtifact: false)
        }
    }

    static let modelColumns =
        "id, tenant_id, model_type, model_version, asset_id, training_date, metrics::text, parameters::text, status, artifact_path, metadata::text, created_at"

    private func modelRows(_ query: PostgresQuery, withArtifact: Bool) async throws -> [ModelRecord] {
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
