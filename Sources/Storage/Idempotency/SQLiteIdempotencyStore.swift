import Foundation
import NIOCore
import SQLiteNIO

/// Idempotency receipts in SQLite (`idempotency_keys`).
public struct SQLiteIdempotencyStore: IdempotencyStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func receipt(tenantId: String, key: String, now: Date) async throws -> IdempotencyReceipt? {
        let rows = try await database.rows(
            "SELECT fingerprint, status, body, expires_at FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND expires_at > ?",
            [.text(tenantId), .text(key), .text(StoreTime.format(now))])
        guard let row = rows.first, let fingerprint = row.column("fingerprint")?.string, let status = row.column("status")?.integer,
            let expires = row.column("expires_at")?.string.flatMap(StoreTime.parse)
        else { return nil }
        let body = row.column("body")?.blob.map { Array($0.readableBytesView) } ?? []
        return IdempotencyReceipt(tenantId: tenantId, key: key, fingerprint: fingerprint, status: status, body: body, expiresAt: expires)
    }

    public func purge(now: Date) async throws -> Int {
        try await database.transaction {
            let rows = try await database.rows("DELETE FROM idempotency_keys WHERE expires_at <= ? RETURNING 1", [.text(StoreTime.format(now))])
            return rows.count
        }
    }
}

extension SQLiteStoreDatabase {
    /// Inside a write's transaction: keeps `receipt`, replacing an expired one of the same key;
    /// `IdempotencyKeyTaken` (rolling the transaction back) when the key holds a live one.
    func claim(_ receipt: IdempotencyReceipt, now: Date = Date()) async throws {
        _ = try await rows(
            "DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND expires_at <= ?",
            [.text(receipt.tenantId), .text(receipt.key), .text(StoreTime.format(now))])
        let inserted = try await rows(
            """
            INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, body, expires_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING RETURNING 1
            """,
            [
                .text(receipt.tenantId), .text(receipt.key), .text(receipt.fingerprint), .integer(receipt.status),
                .blob(ByteBuffer(bytes: receipt.body)), .text(StoreTime.format(receipt.expiresAt)),
            ])
        if inserted.isEmpty { throw IdempotencyKeyTaken(tenantId: receipt.tenantId, key: receipt.key) }
    }
}
