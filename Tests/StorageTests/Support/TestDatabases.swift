import Foundation
import Logging
import PostgresNIO
import SQLiteNIO
import Testing

@testable import Storage

/// Fresh databases for store tests: a new PostgreSQL database per use on the cluster that
/// `make test` starts (`TEST_DATABASE_URL`), or a new SQLite file.
enum TestDatabases {
    static let postgresURL = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"]

    /// PostgreSQL tests run whenever a database is configured, and always in CI (where a missing
    /// URL then fails them instead of skipping them).
    static let postgresEnabled = postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil
    static let skipReason: Comment = "TEST_DATABASE_URL is not set: run `make test`, which starts a throwaway PostgreSQL"

    static let logger = Logger(label: "test")

    /// Runs `body` with a not yet migrated PostgreSQL database of its own, dropped afterwards.
    static func withPostgres<T: Sendable>(_ body: (PostgresStoreDatabase) async throws -> T) async throws -> T {
        guard let url = postgresURL else {
            throw StoreError(backend: "postgresql", message: "TEST_DATABASE_URL is not set (CI must run the PostgreSQL tests)")
        }
        let admin = PostgresClient(configuration: try PostgresStoreDatabase.configuration(url: url), backgroundLogger: logger)
        let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            defer { group.cancelAll() }
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            var configuration = try PostgresStoreDatabase.configuration(url: url)
            configuration.database = name
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            let result: Result<T, any Error> = await withThrowingTaskGroup(of: Void.self) { inner in
                inner.addTask { await client.run() }
                defer { inner.cancelAll() }
                // A generous deadline: these suites check behaviour, and `make test` runs them beside
                // kill -9 and outage tests on the same cluster, on two cores.
                do { return .success(try await body(PostgresStoreDatabase(client: client, logger: logger, timeout: .seconds(60)))) } catch {
                    return .failure(error)
                }
            }
            try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
            return try result.get()
        }
    }

    /// Runs `body` with a new SQLite file in a temporary folder, removed afterwards.
    static func withSQLite<T: Sendable>(_ body: (SQLiteStoreDatabase) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteStoreDatabase.open(path: directory.appendingPathComponent("test.sqlite").path, logger: logger)
        do {
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Every store of one back end, migrated.
    static func withStores<T: Sendable>(_ backend: Backend, _ body: (Stores) async throws -> T) async throws -> T {
        switch backend {
        case .memory: return try await body(.memory())
        case .sqlite: return try await withSQLite { database in _ = try await database.migrate(); return try await body(.sqlite(database)) }
        case .postgres: return try await withPostgres { database in _ = try await database.migrate(); return try await body(.postgres(database)) }
        }
    }

    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite, postgres
        var testDescription: String { rawValue }
    }
}

/// What only tests ask of a database: which migrations are recorded, which columns a table has.
enum Introspection {
    static func appliedMigrations(_ database: any StoreDatabase) async throws -> [Int] {
        switch database {
        case let pg as PostgresStoreDatabase:
            var versions: [Int] = []
            for try await v in try await pg.client.query("SELECT version FROM schema_migrations ORDER BY version").decode(Int.self) { versions.append(v) }
            return versions
        case let lite as SQLiteStoreDatabase:
            return try await lite.rows("SELECT version FROM schema_migrations ORDER BY version").compactMap { $0.column("version")?.integer }
        default:
            throw StoreError(backend: database.backend, message: "no schema to introspect")
        }
    }

    static func columns(_ database: any StoreDatabase, of table: String) async throws -> [String] {
        switch database {
        case let pg as PostgresStoreDatabase:
            var names: [String] = []
            let rows = try await pg.client.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = \(table) ORDER BY ordinal_position")
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        case let lite as SQLiteStoreDatabase:
            return try await lite.rows("SELECT name FROM pragma_table_info(?) ORDER BY cid", [.text(table)]).compactMap { $0.column("name")?.string }
        default:
            throw StoreError(backend: database.backend, message: "no schema to introspect")
        }
    }
}

extension Introspection {
    /// Runs one statement as is (tests that break the schema on purpose).
    static func execute(_ database: any StoreDatabase, _ sql: String) async throws {
        switch database {
        case let pg as PostgresStoreDatabase: _ = try await pg.client.query(PostgresQuery(unsafeSQL: sql))
        case let lite as SQLiteStoreDatabase: _ = try await lite.rows(sql)
        default: throw StoreError(backend: database.backend, message: "no SQL to run")
        }
    }
}
