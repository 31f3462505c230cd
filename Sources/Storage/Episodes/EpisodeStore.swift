import AnomalyDetection
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
