/// Observed outcomes of hazard readings, per tenant (`hazard_feedback`).
public protocol FeedbackStore: Sendable {
    /// Writes observed outcomes of readings in one transaction.
    func recordFeedback(_ rows: [FeedbackRecord]) async throws

    /// A tenant's feedback, newest first, at most `limit` rows.
    func feedback(tenantId: String, limit: Int) async throws -> [FeedbackRecord]
}
