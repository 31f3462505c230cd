import Foundation
import Logging
import SQLiteNIO
import Synchronization

/// The embedded SQLite database under the stores: one file, zero set-up, the same schema as PostgreSQL.
///
/// One connection, serialised by SQLite itself; libsqlite3 calls run on NIO's thread pool,
/// never on an event loop. WAL journaling with `synchronous=FULL`, so a committed row survives
/// a crash of the process.
public final class SQLiteStoreDatabase: StoreDatabase {
    private let connection: SQLiteConnection
    private let closed = Mutex(false)
    /// One transaction at a time on the one connection.
    private let lock = AsyncLock()
    public var backend: String { "sqlite" }

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// A store dropped without `close()` (an application that never ran its shutdown) still
    /// closes its connection: the close runs on NIO's thread pool and keeps the connection
    /// alive until it is done.
    deinit {
        if !closed.withLock({ $0 }) { _ = connection.close() }
    }

    /// Opens (creating if needed) the database file at `path`; `":memory:"` for a private in-memory one.
    public static func open(path: String, logger: Logger) async throws -> SQLiteStoreDatabase {
        if path != ":memory:" {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }
        let connection = try await SQLiteConnection.open(storage: path == ":memory:" ? .memory : .file(path: path), logger: logger)
        let store = SQLiteStoreDatabase(connection: connection)
        if path != ":memory:" {
            _ = try await store.rows("PRAGMA journal_mode=WAL")
        }
        _ = try await store.rows("PRAGMA synchronous=FULL")
        _ = try await store.rows("PRAGMA foreign_keys=ON")
        _ = try await store.rows("PRAGMA busy_timeout=5000")
        return store
    }

    public func close() async throws {
        guard closed.withLock({ was in defer { was = true }; return !was }) else { return }
        // The future-based close: it completes even when the calling task is cancelled.
        try await connection.close().get()
    }

    public func migrate() async throws -> [Int] {
        _ = try await rows(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )
        var applied: [Int] = []
        for migration in Migrations.all {
            let didApply = try await transaction { () async throws -> Bool in
                let existing = try await self.rows("SELECT version FROM schema_migrations WHERE version = ?", [.integer(migration.version)])
                guard existing.isEmpty else { return false }
                for statement in migration.sqlite { _ = try await self.rows(statement) }
                _ = try await self.rows(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [.integer(migration.version), .text(migration.name)])
                return true
            }
            if didApply { applied.append(migration.version) }
        }
        return applied
    }

    public func ping() async throws {
        _ = try await rows("SELECT 1")
    }

    /// Runs one statement. SQLite's errors become `StoreError` (so the HTTP layer answers 503, not
    /// 500), a full disk marked as such; the message keeps SQLite's reason, never the statement's values.
    func rows(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        do {
            return try await connection.query(sql, binds)
        } catch let error as SQLiteError {
            throw StoreError(backend: backend, message: "\(error.reason)", storageFull: error.reason == .full)
        }
    }

    /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), one at a time.
    func transaction<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await lock.withLock {
            _ = try await rows("BEGIN IMMEDIATE")
            do {
                let result = try await body()
                _ = try await rows("COMMIT")
                return result
            } catch {
                _ = try? await rows("ROLLBACK")
                throw error
            }
        }
    }
}
