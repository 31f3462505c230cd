import ComputeSupport
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL database under the stores, over a pooled `PostgresClient`.
///
/// The client must be running (`client.run()`, as a service of the application) for any call
/// to proceed. Thread safety: any number of concurrent calls.
public struct PostgresStoreDatabase: StoreDatabase {
    public let client: PostgresClient
    public let logger: Logger
    public var backend: String { "postgresql" }

    /// How long one store call may take before it fails with a `StoreError`: while PostgreSQL is
    /// down the pool waits for a connection without end, and a request must not.
    let timeout: Duration

    public init(client: PostgresClient, logger: Logger, timeout: Duration = .seconds(60)) {
        self.client = client
        self.logger = logger
        self.timeout = timeout
    }

    /// A client configuration from a `postgres://user:password@host:port/database` URL.
    /// `sslmode=require` asks for TLS; anything else connects in the clear (loopback, tests).
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty
        else {
            throw StoreError(backend: "postgresql", message: "not a postgres://user@host:port/database URL")
        }
        let database = String(components.path.drop { $0 == "/" })
        let tls: PostgresClient.Configuration.TLS = requiresTLS(url: url) ? .require(.makeClientConfiguration()) : .disable
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
            password: components.password.flatMap { $0.removingPercentEncoding },
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 16
        return configuration
    }

    /// Whether the URL asks for TLS (`sslmode=require` or `verify-full`).
    static func requiresTLS(url: String) -> Bool {
        let sslmode = URLComponents(string: url)?.queryItems?.first { $0.name == "sslmode" }?.value
        return sslmode == "require" || sslmode == "verify-full"
    }

    /// Without the store timeout: migrations wait their turn behind another instance's (advisory
    /// lock), and an index on a big table (migration 4 adds one to `anomaly_scores`) takes what it
    /// takes; cut at 5 s, start-up would fail halfway instead.
    public func migrate() async throws -> [Int] {
        try await guarded(deadline: nil) {
            // The advisory lock serialises concurrent start-ups of several instances on one database.
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7201)", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger)
            }
            var applied: [Int] = []
            for migration in Migrations.all {
                let didApply = try await client.withTransaction(logger: logger) { connection -> Bool in
                    try await connection.query("SELECT pg_advisory_xact_lock(7201)", logger: logger)
                    let rows = try await connection.query(
                        "SELECT version FROM schema_migrations WHERE version = \(migration.version)", logger: logger)
                    for try await _ in rows { return false }
                    for statement in migration.postgres {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                        logger: logger)
                    return true
                }
                if didApply { applied.append(migration.version) }
            }
            return applied
        }
    }

    public func ping() async throws {
        try await guarded {
            _ = try await client.query("SELECT 1", logger: logger)
        }
    }

    /// Runs a store call, turning the driver's errors into `StoreError`, so the HTTP layer
    /// knows one store error type whatever the backend (a failed transaction arrived as
    /// `PostgresTransactionError`, which nothing mapped: a 500). The message keeps the error
    /// code and SQLSTATE (or the column that failed to decode) only: the driver's full
    /// reflection can carry the query and its values.
    ///
    /// A call that has not finished within `timeout` is cancelled (the pool gives up its wait for a
    /// connection; a running query is cancelled on the server) and fails as unavailable.
    func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await guarded(deadline: timeout, body)
    }

    /// `guarded` with another deadline (nil: none).
    func guarded<T: Sendable>(deadline: Duration?, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            guard let deadline else { return try await body() }
            return try await Deadline.run(deadline, body)
        } catch is DeadlineExceeded {
            throw StoreError(backend: backend, message: "no answer within \(timeout) (is the database reachable?)")
        } catch let error as PostgresTransactionError {
            if let taken = error.closureError as? IdempotencyKeyTaken { throw taken }
            let cause = error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError
            throw StoreError(backend: backend, message: "transaction failed: \(cause.map(Self.summary) ?? "no cause given")")
        } catch let error as PSQLError {
            throw StoreError(backend: backend, message: Self.summary(error))
        } catch let error as PostgresDecodingError {
            throw StoreError(backend: backend, message: Self.summary(error))
        }
    }

    static func summary(_ error: any Error) -> String {
        switch error {
        case let error as PSQLError: "\(error.code), sqlstate \(error.serverInfo?[.sqlState] ?? "none")"
        case let error as PostgresDecodingError: "column \(error.columnName) did not decode: \(error.code)"
        case let error as StoreError: error.message
        default: String(reflecting: type(of: error))
        }
    }
}
