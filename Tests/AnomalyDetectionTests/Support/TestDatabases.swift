import AnomalyDetection
import Foundation
import Logging
import PostgresNIO
import Testing

/// Fresh databases for store tests: a new PostgreSQL database per use on the cluster that
/// `make test` starts (`TEST_DATABASE_URL`), or a new SQLite file.
enum TestDatabases {
    static let postgresURL = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"]

    /// PostgreSQL tests run whenever a database is configured, and always in CI (where a missing
    /// URL then fails them instead of skipping them).
    static let postgresEnabled = postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil
    static let skipReason: Comment = "TEST_DATABASE_URL is not set: run `make test`, which starts a throwaway PostgreSQL"

    static let logger = Logger(label: "test")

    /// Runs `body` with a migrated-or-not PostgreSQL store on a database of its own, dropped afterwards.
    static func withPostgres<T: Sendable>(_ body: (PostgresAnomalyStore) async throws -> T) async throws -> T {
        guard let url = postgresURL else {
            throw StoreError(backend: "postgresql", message: "TEST_DATABASE_URL is not set (CI must run the PostgreSQL tests)")
        }
        let admin = PostgresClient(configuration: try PostgresAnomalyStore.configuration(url: url), backgroundLogger: logger)
        let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            defer { group.cancelAll() }
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            var configuration = try PostgresAnomalyStore.configuration(url: url)
            configuration.database = name
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            let result: Result<T, any Error> = await withThrowingTaskGroup(of: Void.self) { inner in
                inner.addTask { await client.run() }
                defer { inner.cancelAll() }
                do { return .success(try await body(PostgresAnomalyStore(client: client, logger: logger))) } catch {
                    return .failure(error)
                }
            }
            try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
            return try result.get()
        }
    }

    /// Runs `body` with a store on a new SQLite file in a temporary folder, removed afterwards.
    static func withSQLite<T: Sendable>(_ body: (SQLiteAnomalyStore) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteAnomalyStore.open(path: directory.appendingPathComponent("test.sqlite").path, logger: logger)
        do {
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }
}
