/// What served when: every hazard-model activation, as a `model_metadata` row of
/// `model_type = 'xgboost_hazard'` (version = run id), the newest one `active`.
public protocol ModelAuditLog: Sendable {
    /// Records an activation, retiring the previous active one, in one transaction.
    func recordActivation(_ activation: ModelRecord) async throws

    /// Activations of `tenantId`, newest first, at most `limit`.
    func activations(tenantId: String, limit: Int) async throws -> [ModelRecord]
}

extension ModelAuditLog {
    public static var modelType: String { "xgboost_hazard" }
}
