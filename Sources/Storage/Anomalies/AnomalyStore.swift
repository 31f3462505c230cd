import AnomalyDetection
import Foundation

/// The anomaly data of every tenant: metric samples, their scores, and the assets' models.
///
/// One protocol, one implementation per back end (PostgreSQL, SQLite, memory), same behaviour:
/// the contract suite in `AnomalyDetectionTests` runs against each.
public protocol AnomalyStore: Sendable {
    /// Writes samples and their scores in one transaction: when this returns, both are committed.
    /// With `episodes`, the same transaction advances the asset's episode tracker over the scores
    /// (in time order), writes the episodes it touched and an `ems_outbox` row per change
    /// (`OutboxMessage.messages(for:now:)`); returns the changes. With a `receipt`, its key is
    /// claimed in the same transaction (`IdempotencyKeyTaken` if it already has one, and nothing is
    /// written).
    @discardableResult
    func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], episodes: EpisodePolicy?,
        receipt: IdempotencyReceipt?
    ) async throws -> [EpisodeEvent]

    /// The asset's last `limit` samples strictly before `before` (all if nil), oldest first.
    func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample]

    /// The asset's samples with `from <= timestamp < to`, oldest first, at most `limit`.
    func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample]

    /// The tenant's assets that have samples, by id, with how many and the newest timestamp.
    func assets(tenantId: String) async throws -> [AssetSummary]

    /// Score history, newest first (by timestamp, then id).
    func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord]

    /// Every asset's scores of a tenant in insertion order (id), after `afterId`, only rows
    /// written before `settledBefore`: an incremental sync that sees each row once.
    func scores(tenantId: String, afterId: Int64, settledBefore: Date, limit: Int) async throws -> [AnomalyScoreRecord]

    /// Saves a model as `active`, retiring the asset's previous active model of the same type, in
    /// one transaction. Returns the stored row (with its id). `receipt` makes the answer from the
    /// stored row; its key is claimed in the same transaction.
    func saveModel(_ model: ModelRecord, receipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)?) async throws -> ModelRecord

    /// The asset's active model of `modelType`, with its artifact.
    func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord?

    /// Model rows of a tenant (optionally one asset), newest first, without artifact bytes.
    func models(tenantId: String, assetId: String?) async throws -> [ModelRecord]
}

extension AnomalyStore {
    /// Samples and scores only: no episodes, no outbox rows, no idempotency key.
    public func recordDetection(tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord]) async throws {
        try await recordDetection(tenantId: tenantId, assetId: assetId, samples: samples, scores: scores, episodes: nil, receipt: nil)
    }

    /// With episodes, without an idempotency key.
    @discardableResult
    public func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], episodes: EpisodePolicy?
    ) async throws -> [EpisodeEvent] {
        try await recordDetection(tenantId: tenantId, assetId: assetId, samples: samples, scores: scores, episodes: episodes, receipt: nil)
    }

    /// With an idempotency key, without episodes.
    public func recordDetection(
        tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord], receipt: IdempotencyReceipt?
    ) async throws {
        try await recordDetection(tenantId: tenantId, assetId: assetId, samples: samples, scores: scores, episodes: nil, receipt: receipt)
    }

    /// `saveModel` without an idempotency key.
    public func saveModel(_ model: ModelRecord) async throws -> ModelRecord {
        try await saveModel(model, receipt: nil)
    }
}

/// The tracker's observations from a batch of scores: in time order (stable for equal times).
enum EpisodeInput {
    static func observations(_ scores: [AnomalyScoreRecord]) -> [EpisodeObservation] {
        scores.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map {
            EpisodeObservation(timestamp: $0.element.timestamp, score: $0.element.score, isAnomaly: $0.element.isAnomaly, metric: $0.element.metricName)
        }
    }

    static let kind = "anomaly"
}

/// One asset of a tenant, as the store knows it.
public struct AssetSummary: Sendable, Equatable {
    public var assetId: String
    public var samples: Int
    public var lastSample: Date?

    public init(assetId: String, samples: Int, lastSample: Date?) {
        self.assetId = assetId
        self.samples = samples
        self.lastSample = lastSample
    }
}
