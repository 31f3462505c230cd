import Foundation

/// The first answer to a write that carried an `Idempotency-Key`, stored in the same transaction
/// as the rows it wrote, so a retry can be answered without writing again.
public struct IdempotencyReceipt: Sendable, Equatable {
    public var tenantId: String
    public var key: String
    /// A digest of what was asked (route and body): the same key with another request is refused.
    public var fingerprint: String
    public var status: Int
    public var body: [UInt8]
    /// After this the key is free again (and the row may be purged).
    public var expiresAt: Date

    public init(tenantId: String, key: String, fingerprint: String, status: Int, body: [UInt8], expiresAt: Date) {
        self.tenantId = tenantId
        self.key = key
        self.fingerprint = fingerprint
        self.status = status
        self.body = body
        self.expiresAt = expiresAt
    }
}

/// Thrown inside a write's transaction when its key already has a receipt (a concurrent or
/// earlier request with the same key committed first): the transaction rolls back, nothing is
/// written, and the caller answers from the receipt that won.
public struct IdempotencyKeyTaken: Error, CustomStringConvertible, Sendable {
    public let tenantId: String
    public let key: String
    /// Names neither the key nor the tenant (a key may carry a client's identifiers).
    public var description: String { "the idempotency key already has a receipt" }
}

/// Receipts by tenant and key (`idempotency_keys`). Writes claim a key through the write
/// methods of the other stores (`recordDetection`, `recordFeedback`, `saveModel`), in their
/// transaction; this protocol reads and expires them.
public protocol IdempotencyStore: Sendable {
    /// The unexpired receipt of `key` for `tenantId`, if any.
    func receipt(tenantId: String, key: String, now: Date) async throws -> IdempotencyReceipt?

    /// Deletes receipts that expired before `now`; returns how many.
    @discardableResult
    func purge(now: Date) async throws -> Int
}
