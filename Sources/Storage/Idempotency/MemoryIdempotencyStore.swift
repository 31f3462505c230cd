import Foundation
import Synchronization

/// Idempotency receipts in memory (see `MemoryDatabase`), shared by the memory stores that claim keys.
public final class MemoryIdempotencyStore: IdempotencyStore {
    private struct Key: Hashable {
        let tenant: String
        let key: String
    }
    private let receipts = Mutex<[Key: IdempotencyReceipt]>([:])

    init() {}

    /// Keeps `receipt` unless its key holds an unexpired one (then `IdempotencyKeyTaken`).
    func claim(_ receipt: IdempotencyReceipt, now: Date = Date()) throws {
        let id = Key(tenant: receipt.tenantId, key: receipt.key)
        try receipts.withLock { receipts in
            if let held = receipts[id], held.expiresAt > now { throw IdempotencyKeyTaken(tenantId: receipt.tenantId, key: receipt.key) }
            receipts[id] = receipt
        }
    }

    public func receipt(tenantId: String, key: String, now: Date) async throws -> IdempotencyReceipt? {
        receipts.withLock { $0[Key(tenant: tenantId, key: key)] }.flatMap { $0.expiresAt > now ? $0 : nil }
    }

    public func purge(now: Date) async throws -> Int {
        receipts.withLock { receipts in
            let expired = receipts.filter { $0.value.expiresAt <= now }.map(\.key)
            for key in expired { receipts[key] = nil }
            return expired.count
        }
    }
}
