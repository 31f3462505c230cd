import Foundation
import Synchronization

/// Stores that live in the process, for tests about something other than storage (the HTTP
/// mapping, auth, metrics): same behaviour as the SQL stores, checked by the same contract suite,
/// nothing written anywhere.
public struct MemoryDatabase: StoreDatabase {
    public var backend: String { "memory" }
    public init() {}
    public func migrate() async throws -> [Int] { [] }
    public func ping() async throws {}
}

/// `model_metadata` in memory, shared by the anomaly store and the audit log as the table is.
final class MemoryModelTable: Sendable {
    private let rows = Mutex<[ModelRecord]>([])

    func saveActive(_ model: ModelRecord, claim: (ModelRecord) throws -> Void) rethrows -> ModelRecord {
        try rows.withLock { rows in
            var saved = model
            saved.id = Int64(rows.count + 1)
            saved.status = "active"
            saved.createdAt = Date()
            try claim(saved)
            for k in rows.indices
            where rows[k].tenantId == model.tenantId && rows[k].modelType == model.modelType && rows[k].assetId == model.assetId
                && rows[k].status == "active"
            {
                rows[k].status = "retired"
            }
            rows.append(saved)
            return saved
        }
    }

    /// Rows matching `filter`, newest first, at most `limit`.
    func select(limit: Int, withArtifact: Bool, _ filter: (ModelRecord) -> Bool) -> [ModelRecord] {
        rows.withLock { rows in
            rows.reversed().filter(filter).prefix(limit).map { row in
                var copy = row
                if !withArtifact { copy.artifact = nil }
                return copy
            }
        }
    }
}
