import Foundation

/// Anomaly episodes, read back (they are written by `AnomalyStore.recordDetection`).
public protocol EpisodeStore: Sendable {
    /// Episodes newest first (by start, then id), after `query.after` when given, at most `query.limit`.
    func episodes(_ query: EpisodeQuery) async throws -> [Episode]

    /// Advances the trackers of `kind` (`hazard`: battery modules) over observations that are not
    /// stored as scores, per asset, and writes the episodes and outbox rows, in one transaction.
    func recordEpisodes(tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy) async throws -> EpisodeBatch

    /// The trackers of `kind` with a pending run or an open episode.
    func liveTrackers(kind: String) async throws -> [(tenantId: String, assetId: String)]
}

/// What `recordEpisodes` did: the changes, and the assets whose trackers are still live.
public struct EpisodeBatch: Sendable, Equatable {
    public var events: [EpisodeEvent] = []
    public var live: Set<String> = []

    public init(events: [EpisodeEvent] = [], live: Set<String> = []) {
        self.events = events
        self.live = live
    }
}

/// A filter over `anomaly_episodes`, with its keyset position.
public struct EpisodeQuery: Sendable {
    public var tenantId: String
    public var assetId: String?
    public var state: Episode.State?
    /// Episodes that started at or after `from` and before `to`.
    public var from: Date?
    public var to: Date?
    /// The last episode of the previous page: (started_at, id).
    public var after: (startedAt: Date, id: String)?
    public var limit: Int

    public init(
        tenantId: String, assetId: String? = nil, state: Episode.State? = nil, from: Date? = nil, to: Date? = nil,
        after: (startedAt: Date, id: String)? = nil, limit: Int = 100
    ) {
        self.tenantId = tenantId
        self.assetId = assetId
        self.state = state
        self.from = from
        self.to = to
        self.after = after
        self.limit = limit
    }
}

/// The EMS Core outbox, as the deliverer and the operator use it.
///
/// Delivery is at least once: a claimed message is leased, and comes due again if its claimer
/// dies before marking it; EMS Core's idempotency key makes the repeat harmless.
public protocol OutboxStore: Sendable {
    /// Claims up to `limit` pending messages due at `now`, oldest first, only the earliest pending
    /// message of each episode (so an episode's changes reach EMS Core in order), and leases them
    /// until `leaseUntil`. Concurrent claimers (replicas) never get the same message.
    func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage]
    /// Records what became of claimed messages, in one transaction (one commit for a whole round
    /// of deliveries). Only pending messages change.
    func settle(_ results: [OutboxResult]) async throws
    /// Makes every pending message due at `now` (after EMS Core came back).
    func expedite(now: Date) async throws
    /// A tenant's messages in one state, by id, after `afterId`.
    func messages(tenantId: String, state: OutboxMessage.State, afterId: Int64?, limit: Int) async throws -> [OutboxMessage]
    /// Puts parked messages of a tenant (all, or those in `ids`) back to pending, due now, with
    /// their attempts reset. Returns how many.
    func retryParked(tenantId: String, ids: [Int64]?, now: Date) async throws -> Int
    /// Rows by state, over every tenant.
    func counts() async throws -> OutboxCounts
}

/// What became of one claimed outbox message.
public struct OutboxResult: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// EMS Core has it.
        case delivered(at: Date)
        /// Still pending, to be tried again at `at`.
        case retry(attempts: Int, at: Date, error: String)
        /// Set aside: EMS Core refused it for good.
        case parked(attempts: Int, reason: String)
    }

    public var id: Int64
    public var outcome: Outcome

    public init(id: Int64, _ outcome: Outcome) {
        self.id = id
        self.outcome = outcome
    }
}
