import Foundation
import Synchronization

/// Hazard feedback in memory (see `MemoryDatabase`).
public final class MemoryFeedbackStore: FeedbackStore {
    private let rows = Mutex<[FeedbackRecord]>([])
    private let receipts: MemoryIdempotencyStore

    init(receipts: MemoryIdempotencyStore) {
        self.receipts = receipts
    }

    public func recordFeedback(_ new: [FeedbackRecord], receipt: IdempotencyReceipt?) async throws {
        guard !new.isEmpty else { return }
        if let receipt { try receipts.claim(receipt) }
        rows.withLock { rows in
            for var row in new {
                row.id = Int64(rows.count + 1)
                row.createdAt = Date()
                rows.append(row)
            }
        }
    }

    public func feedback(tenantId: String, limit: Int) async throws -> [FeedbackRecord] {
        rows.withLock { Array($0.reversed().filter { $0.tenantId == tenantId }.prefix(limit)) }
    }
}
