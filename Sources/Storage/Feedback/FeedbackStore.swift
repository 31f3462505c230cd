/// Observed outcomes of hazard readings, per tenant (`hazard_feedback`).
public protocol FeedbackStore: Sendable {
    /// Writes observed outcomes of readings in one transaction, claiming `receipt`'s key in it.
    func recordFeedback(_ rows: [FeedbackRecord], receipt: IdempotencyReceipt?) async throws

    /// A tenant's feedback, newest first, at most `limit` rows.
    func feedback(tenantId: String, limit: Int) async throws -> [FeedbackRecord]
}

extension FeedbackStore {
    /// `recordFeedback` without an idempotency key.
    public func recordFeedback(_ rows: [FeedbackRecord]) async throws {
        try await recordFeedback(rows, receipt: nil)
    }
}
