import AnomalyDetection
import Logging
import PostgresNIO
import ServiceLifecycle

/// Opens the anomaly store the configuration names: PostgreSQL when `DATABASE_URL` is set,
/// else the embedded SQLite file. PostgreSQL's pooled client runs as a service of the
/// application; migrations run before the server accepts requests.
struct StoreSetup {
    let store: any AnomalyStore
    let services: [any Service]
    /// Applies migrations; for PostgreSQL, must run once the client's service runs.
    let migrate: @Sendable () async throws -> Void

    static func open(_ configuration: Configuration, logger: Logger) async throws -> StoreSetup {
        if let url = configuration.databaseURL {
            let client = PostgresClient(configuration: try PostgresAnomalyStore.configuration(url: url), backgroundLogger: logger)
            let store = PostgresAnomalyStore(client: client, logger: logger)
            return StoreSetup(store: store, services: [client], migrate: {
                let applied = try await store.migrate()
                if !applied.isEmpty { logger.notice("database migrated", metadata: ["backend": "postgresql", "versions": "\(applied)"]) }
            })
        }
        let store = try await SQLiteAnomalyStore.open(path: configuration.sqlitePath, logger: logger)
        let applied = try await store.migrate()
        if !applied.isEmpty { logger.notice("database migrated", metadata: ["backend": "sqlite", "path": "\(configuration.sqlitePath)", "versions": "\(applied)"]) }
        return StoreSetup(store: store, services: [CloseOnShutdown(store: store)], migrate: {})
    }
}

/// Closes the SQLite connection when the application shuts down gracefully.
private struct CloseOnShutdown: Service {
    let store: SQLiteAnomalyStore

    func run() async throws {
        try? await gracefulShutdown()
        try await store.close()
    }
}
