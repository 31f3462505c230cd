/// The database under the stores: the schema, and whether it answers.
public protocol StoreDatabase: Sendable {
    /// `postgresql`, `sqlite` or `memory`.
    var backend: String { get }

    /// Applies the migrations not yet applied; returns the versions applied by this call.
    @discardableResult
    func migrate() async throws -> [Int]

    /// A trivial round trip, for readiness checks.
    func ping() async throws
}

/// Every store the service uses, on one database.
public struct Stores: Sendable {
    public var database: any StoreDatabase
    public var anomalies: any AnomalyStore
    public var feedback: any FeedbackStore
    public var audit: any ModelAuditLog
    public var episodes: any EpisodeStore
    public var outbox: any OutboxStore

    public init(
        database: any StoreDatabase, anomalies: any AnomalyStore, feedback: any FeedbackStore, audit: any ModelAuditLog,
        episodes: any EpisodeStore, outbox: any OutboxStore
    ) {
        self.database = database
        self.anomalies = anomalies
        self.feedback = feedback
        self.audit = audit
        self.episodes = episodes
        self.outbox = outbox
    }

    public var backend: String { database.backend }

    public static func postgres(_ database: PostgresStoreDatabase) -> Stores {
        Stores(
            database: database, anomalies: PostgresAnomalyStore(database: database), feedback: PostgresFeedbackStore(database: database),
            audit: PostgresModelAuditLog(database: database), episodes: PostgresEpisodeStore(database: database),
            outbox: PostgresEpisodeStore(database: database))
    }

    public static func sqlite(_ database: SQLiteStoreDatabase) -> Stores {
        Stores(
            database: database, anomalies: SQLiteAnomalyStore(database: database), feedback: SQLiteFeedbackStore(database: database),
            audit: SQLiteModelAuditLog(database: database), episodes: SQLiteEpisodeStore(database: database),
            outbox: SQLiteEpisodeStore(database: database))
    }

    /// Process-local stores, for tests about something else than storage.
    public static func memory() -> Stores {
        let models = MemoryModelTable()
        let episodes = MemoryEpisodeTables()
        return Stores(
            database: MemoryDatabase(), anomalies: MemoryAnomalyStore(models: models, episodes: episodes), feedback: MemoryFeedbackStore(),
            audit: MemoryModelAuditLog(models: models), episodes: MemoryEpisodeStore(tables: episodes), outbox: MemoryEpisodeStore(tables: episodes))
    }
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
