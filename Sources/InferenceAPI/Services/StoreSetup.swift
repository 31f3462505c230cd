import Logging
import PostgresNIO
import ServiceLifecycle
import Storage

/// Opens the stores the configuration names: PostgreSQL when `DATABASE_URL` is set, else the
/// embedded SQLite file. PostgreSQL's pooled client runs as a service of the application;
/// migrations run before the server accepts requests.
struct StoreSetup {
    let stores: Stores
    let services: [any Service]
    /// Applies migrations; for PostgreSQL, must run once the client's service runs.
    let migrate: @Sendable () async throws -> Void

    static func open(_ configuration: Configuration, logger: Logger) async throws -> StoreSetup {
        if let url = configuration.databaseURL {
            // One connection tried first, within the start-up bound: the pool would retry a bad
            // address or password without end and the server would never listen nor exit.
            try await StartupError.probePostgres(
                url: url, variable: "DATABASE_URL", shown: url, timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
            let client = PostgresClient(configuration: try PostgresStoreDatabase.configuration(url: url), backgroundLogger: logger)
            let database = PostgresStoreDatabase(client: client, logger: logger, timeout: .seconds(configuration.storeTimeoutSeconds))
            return StoreSetup(stores: .postgres(database), services: [client], migrate: {
                let applied = try await database.migrate()
                if !applied.isEmpty { logger.notice("database migrated", metadata: ["backend": "postgresql", "versions": "\(applied)"]) }
            })
        }
        let database: SQLiteStoreDatabase
        let applied: [Int]
        do {
            database = try await SQLiteStoreDatabase.open(path: configuration.sqlitePath, logger: logger)
            applied = try await database.migrate()
        } catch {
            throw StartupError(
                variable: "SQLITE_PATH", target: configuration.sqlitePath,
                cause: "\(error) (the file must be readable and writable, in a folder this process may write)", failure: "cannot be opened")
        }
        if !applied.isEmpty { logger.notice("database migrated", metadata: ["backend": "sqlite", "path": "\(configuration.sqlitePath)", "versions": "\(applied)"]) }
        return StoreSetup(stores: .sqlite(database), services: [CloseOnShutdown(database: database)], migrate: {})
    }
}

/// Closes the SQLite connection when the application shuts down gracefully.
private struct CloseOnShutdown: Service {
    let database: SQLiteStoreDatabase

    func run() async throws {
        try? await gracefulShutdown()
        try await database.close()
    }
}
