import AnomalyDetection
import Foundation
import Synchronization

/// The EMS Core outbox in memory (see `MemoryDatabase`), on the tables the episode store writes.
public final class MemoryOutboxStore: OutboxStore {
    private let tables: MemoryEpisodeTables

    init(tables: MemoryEpisodeTables) {
        self.tables = tables
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
