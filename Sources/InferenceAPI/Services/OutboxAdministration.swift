import EMSCore
import Foundation
import Logging
import Storage

/// The operator's view of the EMS Core outbox (`/ems/outbox`): messages by state, and parked ones
/// put back, with the deliverer told at once.
struct OutboxAdministration: Sendable {
    let outbox: any OutboxStore
    /// The running deliverer; nil when EMS Core is not configured (messages then wait).
    let deliverer: OutboxDeliverer?

    /// Up to `limit` of a tenant's messages in `state` after id `afterId`, and whether more follow.
    func page(tenantId: String, state: OutboxMessage.State, afterId: Int64, limit: Int) async throws -> (messages: ArraySlice<OutboxMessage>, more: Bool) {
        let rows = try await outbox.messages(tenantId: tenantId, state: state, afterId: afterId, limit: limit + 1)
        return (rows.prefix(limit), rows.count > limit)
    }

    /// Puts a tenant's parked messages (all, or those in `ids`) back to pending, due now.
    func retryParked(tenantId: String, ids: [Int64]?, logger: Logger) async throws -> Int {
        let retried = try await outbox.retryParked(tenantId: tenantId, ids: ids, now: Date())
        if retried > 0 { deliverer?.nudge() }
        logger.notice("EMS Core outbox: parked messages retried", metadata: ["retried": "\(retried)"])
        return retried
    }
}
