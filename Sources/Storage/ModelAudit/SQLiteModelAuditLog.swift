import SQLiteNIO

/// Hazard-model activations in SQLite's `model_metadata`.
public struct SQLiteModelAuditLog: ModelAuditLog {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func recordActivation(_ activation: ModelRecord) async throws {
        _ = try await database.saveActiveModel(activation)
    }

    public func activations(tenantId: String, limit: Int) async throws -> [ModelRecord] {
        try await database.rows(
            "SELECT * FROM model_metadata WHERE tenant_id = ? AND model_type = ? ORDER BY id DESC LIMIT ?",
            [.text(tenantId), .text(Self.modelType), .integer(limit)]
        ).compactMap { SQLiteStoreDatabase.model($0, withArtifact: false) }
    }
}
