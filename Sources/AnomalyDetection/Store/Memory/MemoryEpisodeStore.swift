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

/// Episodes and the EMS Core outbox in memory (see `MemoryDatabase`).
public final class MemoryEpisodeStore: EpisodeStore, OutboxStore {
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

    public func claimDue(now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        tables.tables.withLock { t in
            var seen = Set<String>()
            var claimed: [OutboxMessage] = []
            for k in t.outbox.indices where t.outbox[k].state == .pending {
                guard seen.insert(t.outbox[k].episodeId).inserted else { continue }
                guard t.outbox[k].nextAttemptAt <= now, claimed.count < limit else { continue }
                t.outbox[k].nextAttemptAt = leaseUntil
                claimed.append(t.outbox[k])
            }
            return claimed
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

    public func settle(_ results: [OutboxResult]) async throws {
        tables.tables.withLock { t in
            for result in results {
                guard let k = t.outbox.firstIndex(where: { $0.id == result.id }), t.outbox[k].state == .pending else { continue }
                switch result.outcome {
                case .delivered(let at):
                    t.outbox[k].state = .delivered
                    t.outbox[k].deliveredAt = at
                    t.outbox[k].lastError = nil
                case .retry(let attempts, let at, let error):
                    t.outbox[k].attempts = attempts
                    t.outbox[k].nextAttemptAt = at
                    t.outbox[k].lastError = error
                case .parked(let attempts, let reason):
                    t.outbox[k].state = .parked
                    t.outbox[k].attempts = attempts
                    t.outbox[k].lastError = reason
                }
            }
        }
    }

    public func expedite(now: Date) async throws {
        tables.tables.withLock { t in
            for k in t.outbox.indices where t.outbox[k].state == .pending && t.outbox[k].nextAttemptAt > now { t.outbox[k].nextAttemptAt = now }
        }
    }

    public func messages(tenantId: String, state: OutboxMessage.State, afterId: Int64?, limit: Int) async throws -> [OutboxMessage] {
        tables.tables.withLock { t in
            Array(t.outbox.filter { $0.tenantId == tenantId && $0.state == state && ($0.id ?? 0) > (afterId ?? 0) }.prefix(limit))
        }
    }

    public func retryParked(tenantId: String, ids: [Int64]?, now: Date) async throws -> Int {
        tables.tables.withLock { t in
            var count = 0
            for k in t.outbox.indices
            where t.outbox[k].tenantId == tenantId && t.outbox[k].state == .parked && (ids == nil || ids!.contains(t.outbox[k].id ?? 0)) {
                t.outbox[k].state = .pending
                t.outbox[k].attempts = 0
                t.outbox[k].nextAttemptAt = now
                count += 1
            }
            return count
        }
    }

    public func counts() async throws -> OutboxCounts {
        tables.tables.withLock { t in
            var counts = OutboxCounts()
            for m in t.outbox {
                switch m.state {
                case .pending:
                    counts.pending += 1
                    counts.oldestPending = min(counts.oldestPending ?? m.createdAt, m.createdAt)
                case .delivered: counts.delivered += 1
                case .parked: counts.parked += 1
                }
            }
            return counts
        }
    }
}
