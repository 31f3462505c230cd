import PostgresNIO

/// Hazard-model activations in PostgreSQL's `model_metadata`.
public struct PostgresModelAuditLog: ModelAuditLog {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    public func recordActivation(_ activation: ModelRecord) async throws {
        _ = try await database.saveActiveModel(activation)
    }

    public func activations(tenantId: String, limit: Int) async throws -> [ModelRecord] {
        try await database.guarded {
            try await database.modelRows(
                """
                SELECT \(unescaped: PostgresStoreDatabase.modelColumns), NULL::bytea FROM model_metadata
                WHERE tenant_id = \(tenantId) AND model_type = \(Self.modelType) ORDER BY id DESC LIMIT \(limit)
                """, withArtifact: false)
        }
    }
}
