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
    public var receipts: any IdempotencyStore
    public var fleet: any FleetStore
    public var loginFailures: any LoginFailureStore

    public init(
        database: any StoreDatabase, anomalies: any AnomalyStore, feedback: any FeedbackStore, audit: any ModelAuditLog,
        episodes: any EpisodeStore, outbox: any OutboxStore, receipts: any IdempotencyStore, fleet: any FleetStore,
        loginFailures: any LoginFailureStore
    ) {
        self.database = database
        self.anomalies = anomalies
        self.feedback = feedback
        self.audit = audit
        self.episodes = episodes
        self.outbox = outbox
        self.receipts = receipts
        self.fleet = fleet
        self.loginFailures = loginFailures
    }

    public var backend: String { database.backend }

    public static func postgres(_ database: PostgresStoreDatabase) -> Stores {
        Stores(
            database: database, anomalies: PostgresAnomalyStore(database: database), feedback: PostgresFeedbackStore(database: database),
            audit: PostgresModelAuditLog(database: database), episodes: PostgresEpisodeStore(database: database),
            outbox: PostgresOutboxStore(database: database), receipts: PostgresIdempotencyStore(database: database),
            fleet: PostgresFleetStore(database: database), loginFailures: PostgresLoginFailureStore(database: database))
    }

    public static func sqlite(_ database: SQLiteStoreDatabase) -> Stores {
        Stores(
            database: database, anomalies: SQLiteAnomalyStore(database: database), feedback: SQLiteFeedbackStore(database: database),
            audit: SQLiteModelAuditLog(database: database), episodes: SQLiteEpisodeStore(database: database),
            outbox: SQLiteOutboxStore(database: database), receipts: SQLiteIdempotencyStore(database: database),
            fleet: SQLiteFleetStore(database: database), loginFailures: SQLiteLoginFailureStore(database: database))
    }

    /// Process-local stores, for tests about something else than storage.
    public static func memory() -> Stores {
        let models = MemoryModelTable()
        let episodes = MemoryEpisodeTables()
        let receipts = MemoryIdempotencyStore()
        return Stores(
            database: MemoryDatabase(), anomalies: MemoryAnomalyStore(models: models, episodes: episodes, receipts: receipts),
            feedback: MemoryFeedbackStore(receipts: receipts), audit: MemoryModelAuditLog(models: models),
            episodes: MemoryEpisodeStore(tables: episodes), outbox: MemoryOutboxStore(tables: episodes), receipts: receipts,
            fleet: MemoryFleetStore(), loginFailures: MemoryLoginFailureStore())
    }
}

/// A store operation that failed; `message` is safe to log (no row contents).
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let backend: String
    public let message: String
    /// The database's disk is full: nothing was written, and writes can resume once space is freed.
    public let storageFull: Bool
    public var description: String { "\(backend) store: \(message)" }

    public init(backend: String, message: String, storageFull: Bool = false) {
        self.backend = backend
        self.message = message
        self.storageFull = storageFull
    }
}
