import Foundation
import Synchronization

/// Hazard-model activations in memory (see `MemoryDatabase`).
public struct MemoryModelAuditLog: ModelAuditLog {
    let models: MemoryModelTable

    public func recordActivation(_ activation: ModelRecord) async throws {
        _ = models.saveActive(activation) { _ in }
    }

    public func activations(tenantId: String, limit: Int) async throws -> [ModelRecord] {
        models.select(limit: limit, withArtifact: false) { $0.tenantId == tenantId && $0.modelType == Self.modelType }
    }
}
