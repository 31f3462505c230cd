import Foundation

/// The anomaly repository: one protocol, one implementation per back end (PostgreSQL, SQLite),
/// same schema and behaviour. The same test suite runs against both.
public protocol AnomalyStore: Sendable {
    /// `postgresql` or `sqlite`.
    var backend: String { get }

    /// Applies the migrations not yet applied; returns the versions applied by this call.
    @discardableResult
    func migrate() async throws -> [Int]

    /// Versions recorded in `schema_migrations`, ascending.
    func appliedMigrations() async throws -> [Int]

    /// Column names of `table`, as the database reports them.
    func columns(of table: String) async throws -> [String]

    /// A trivial round trip, for readiness checks.
    func ping() async throws

    /// Writes samples and their scores in one transaction: when this returns, both are committed.
    func recordDetection(tenantId: String, assetId: String, samples: [MetricSample], scores: [AnomalyScoreRecord]) async throws

    /// The asset's last `limit` samples strictly before `before` (all if nil), oldest first.
    func recentSamples(tenantId: String, assetId: String, before: Date?, limit: Int) async throws -> [MetricSample]

    /// The asset's samples with `from <= timestamp < to`, oldest first, at most `limit`.
    func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample]

    /// Score history, newest first.
    func scores(_ query: ScoreQuery) async throws -> [AnomalyScoreRecord]

    /// Saves a model as `active`, retiring the asset's previous active model of the same type, in
    /// one transaction. Returns the stored row (with its id).
    func saveModel(_ model: ModelRecord) async throws -> ModelRecord

    /// The asset's active model of `modelType`, with its artifact.
    func activeModel(tenantId: String, assetId: String?, modelType: String) async throws -> ModelRecord?

    /// Model rows of a tenant (optionally one asset), newest first, without artifact bytes.
    func models(tenantId: String, assetId: String?) async throws -> [ModelRecord]

    /// Writes observed outcomes of readings in one transaction.
    func recordFeedback(_ rows: [FeedbackRecord]) async throws

    /// A tenant's feedback, newest first, at most `limit` rows.
    func feedback(tenantId: String, limit: Int) async throws -> [FeedbackRecord]
}

/// A store operation that failed; `message` is safe to log (no row contents).
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let backend: String
    public let message: String
    public var description: String { "\(backend) store: \(message)" }

    public init(backend: String, message: String) {
        self.backend = backend
        self.message = message
    }
}
