import AnomalyDetection
import Foundation
import Synchronization

/// `anomaly_episodes`, `episode_trackers` and `ems_outbox` in memory, shared by the anomaly
/// store (which writes them with the scores) and the episode store.
final class MemoryEpisodeTables: Sendable {
    struct Tables {
        var trackers: [String: EpisodeTracker] = [:]
        var episodes: [String: Episode] = [:]
        var outbox: [OutboxMessage] = []
    }
    let tables = Mutex(Tables())

    /// What the SQL stores do in `recordDetection`'s transaction, under the caller's lock.
    static func record(
        _ tables: inout Tables, tenantId: String, assetId: String, kind: String, observations: [EpisodeObservation], policy: EpisodePolicy
    ) -> (events: [EpisodeEvent], live: Bool) {
        let key = "\(tenantId)\u{1F}\(assetId)\u{1F}\(kind)"
        var tracker = tables.trackers[key] ?? EpisodeTracker()
        let outcome = tracker.advance(observations, tenantId: tenantId, assetId: assetId, kind: kind, policy: policy)
        tables.trackers[key] = tracker
        for episode in outcome.episodes { tables.episodes[episode.id] = episode }
        for var message in OutboxMessage.messages(for: policy.outbox ? outcome.events : [], now: Date()) {
            message.id = Int64(tables.outbox.count + 1)
            tables.outbox.append(message)
        }
        return (outcome.events, tracker.isLive)
    }
}

/// Episodes in memory (see `MemoryDatabase`).
public final class MemoryEpisodeStore: EpisodeStore {
    private let tables: MemoryEpisodeTables

    init(tables: MemoryEpisodeTables) {
        self.tables = tables
    }

    public func episodes(_ q: EpisodeQuery) async throws -> [Episode] {
        tables.tables.withLock { t in
            Array(
                t.episodes.values.filter { e in
                    e.tenantId == q.tenantId && (q.assetId == nil || e.assetId == q.assetId) && (q.state == nil || e.state == q.state)
                        && (q.from == nil || e.startedAt >= q.from!) && (q.to == nil || e.startedAt < q.to!)
                        && (q.after == nil || (Keyset.micros(e.startedAt), e.id) < (Keyset.micros(q.after!.startedAt), q.after!.id))
                }
                .sorted { (Keyset.micros($0.startedAt), $0.id) > (Keyset.micros($1.startedAt), $1.id) }
                .prefix(q.limit))
        }
    }

    public func recordEpisodes(tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy) async throws -> EpisodeBatch {
        tables.tables.withLock { t in
            var batch = EpisodeBatch()
            for asset in observations.keys.sorted() {
                let (events, live) = MemoryEpisodeTables.record(&t, tenantId: tenantId, assetId: asset, kind: kind, observations: observations[asset] ?? [], policy: policy)
                batch.events += events
                if live { batch.live.insert(asset) }
            }
            return batch
        }
    }

    public func liveTrackers(kind: String) async throws -> [(tenantId: String, assetId: String)] {
        tables.tables.withLock { t in
            t.trackers.filter { $0.value.isLive }.compactMap { key, _ -> (tenantId: String, assetId: String)? in
                let parts = key.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
                return parts.count == 3 && parts[2] == kind ? (parts[0], parts[1]) : nil
            }
        }
    }
}
