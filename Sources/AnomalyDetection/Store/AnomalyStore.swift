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
