import AnomalyDetection
import Foundation

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
