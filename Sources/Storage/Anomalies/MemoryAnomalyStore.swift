import AnomalyDetection
import Foundation
import Synchronization

/// Anomaly data in memory (see `MemoryDatabase`).
public final class MemoryAnomalyStore: AnomalyStore {
    private struct Tables {
        var samples: [(tenant: String, asset: String, sample: MetricSample)] = []
        var scores: [AnomalyScoreRecord] = []
    }
    private let tables = Mutex(Tables())
    private let models: MemoryModelTable
    private let episodes: MemoryEpisodeTables
    private let receipts: MemoryIdempotencyStore

    init(models: MemoryModelTable, episodes: MemoryEpisodeTables, receipts: MemoryIdempotencyStore) {
        self.models = models
        self.episodes = episodes
        self.receipts = receipts
    }

    public func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], episodes policy: EpisodePolicy?,
        receipt: IdempotencyReceipt?
    ) async throws -> [EpisodeEvent] {
        if let receipt { try receipts.claim(receipt) }
        // The episode tables' lock is held across both writes: one "transaction", as in SQL.
        return episodes.tables.withLock { episodeTables in
            tables.withLock { tables in
                tables.samples += samples.map { (tenantId, assetId, $0) }
                for var score in scores {
                    score.id = Int64(tables.scores.count + 1)
                    score.tenantId = tenantId
                    score.assetId = assetId
                    tables.scores.append(score)
                }
            }
            guard let policy else { return [] }
            return MemoryEpisodeTables.record(
                &episodeTables, tenantId: tenantId, assetId: assetId, kind: EpisodeInput.kind, observations: EpisodeInput.observations(scores), policy: policy
            ).events
        }
    }

    /// The asset's samples in time order (stable for equal times, as the SQL stores' `id` order).
    private func samples(tenantId: String, assetId: String) -> [MetricSample] {
        tables.withLock { tables in
            tables.samples.enumerated().filter { $0.element.tenant == tenantId && $0.element.asset == assetId }
                .sorted { ($0.element.sample.timestamp, $0.offset) < ($1.element.sample.timestamp, $1.offset) }
                .map(\.element.sample)
        }
    }

    public func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample] {
        Array(samples(tenantId: tenantId, assetId: assetId).filter { before == nil || $0.timestamp < before! }.suffix(limit))
    }

    public func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] {
        Array(
            samples(tenantId: tenantId, assetId: assetId)
                .filter { (from == nil || $0.timestamp >= from!) && (to == nil || $0.timestamp < to!) }.prefix(limit))
    }

    public func assets(tenantId: String) async throws -> [AssetSummary] {
        tables.withLock { tables in
            var byAsset: [String: AssetSummary] = [:]
            for row in tables.samples where row.tenant == tenantId {
                var summary = byAsset[row.asset] ?? AssetSummary(assetId: row.asset, samples: 0, lastSample: nil)
                summary.samples += 1
                summary.lastSample = max(summary.lastSample ?? row.sample.timestamp, row.sample.timestamp)
                byAsset[row.asset] = summary
            }
            return byAsset.values.sorted { $0.assetId < $1.assetId }
        }
    }

    public func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord] {
        let after = query.after.map { (Keyset.micros($0.timestamp), $0.id) }
        return tables.withLock { tables in
            Array(
                tables.scores
                    .filter { s in
                        s.tenantId == query.tenantId && s.assetId == query.assetId && (query.since == nil || s.timestamp >= query.since!)
                            && (query.until == nil || s.timestamp < query.until!)
                            && (after == nil || (Keyset.micros(s.timestamp), s.id ?? 0) < after!)
                            && (query.metricName == nil || s.metricName == query.metricName) && (!query.anomaliesOnly || s.isAnomaly)
                    }
                    .sorted { (Keyset.micros($0.timestamp), $0.id ?? 0) > (Keyset.micros($1.timestamp), $1.id ?? 0) }
                    .prefix(query.limit))
        }
    }

    public func scores(tenantId: String, afterId: Int64, settledBefore: Date, limit: Int) async throws -> [AnomalyScoreRecord] {
        tables.withLock { tables in
            Array(tables.scores.lazy.filter { $0.tenantId == tenantId && ($0.id ?? 0) > afterId }.prefix(limit))
        }
    }

    public func saveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)?) async throws -> ModelRecord {
        // Claimed before the row is kept, as the SQL stores' transaction would roll it back.
        try models.saveActive(model) { saved in if let receipt { try receipts.claim(receipt(saved)) } }
    }

    public func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord? {
        models.select(limit: 1, withArtifact: true) {
            $0.tenantId == tenantId && $0.assetId == assetId && $0.modelType == modelType && $0.status == "active"
        }.first
    }

    public func models(tenantId: String, assetId: String?) async throws -> [ModelRecord] {
        models.select(limit: 1000, withArtifact: false) { $0.tenantId == tenantId && (assetId == nil || $0.assetId == assetId) }
    }
}
