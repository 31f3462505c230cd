import Foundation
import NIOCore
import PostgresNIO

/// Idempotency receipts in PostgreSQL (`idempotency_keys`).
public struct PostgresIdempotencyStore: IdempotencyStore {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    public func receipt(tenantId: String, key: String, now: Date) async throws -> IdempotencyReceipt? {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT fingerprint, status, body, expires_at FROM idempotency_keys
                WHERE tenant_id = \(tenantId) AND key = \(key) AND expires_at > \(now)
                """, logger: database.logger)
            for try await (fingerprint, status, body, expires) in rows.decode((String, Int32, ByteBuffer, Date).self) {
                return IdempotencyReceipt(
                    tenantId: tenantId, key: key, fingerprint: fingerprint, status: Int(status), body: Array(body.readableBytesView),
                    expiresAt: expires)
            }
            return nil
        }
    }

    public func purge(now: Date) async throws -> Int {
        try await database.guarded {
            let rows = try await database.client.query(
                "DELETE FROM idempotency_keys WHERE expires_at <= \(now) RETURNING 1", logger: database.logger)
            var count = 0
            for try await _ in rows.decode(Int32.self) { count += 1 }
            return count
        }
    }
}

extension PostgresStoreDatabase {
    /// Inside a write's transaction: keeps `receipt`, replacing an expired one of the same key;
    /// `IdempotencyKeyTaken` (rolling the transaction back) when the key holds a live one. A
    /// concurrent claim of the same key waits on this one's row and then finds it taken.
    func claim(_ receipt: IdempotencyReceipt, on connection: PostgresConnection, now: Date = Date()) async throws {
        try await connection.query(
            "DELETE FROM idempotency_keys WHERE tenant_id = \(receipt.tenantId) AND key = \(receipt.key) AND expires_at <= \(now)",
            logger: logger)
        let body = ByteBuffer(bytes: receipt.body)
        let rows = try await connection.query(
            """
            INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, body, expires_at)
            VALUES (\(receipt.tenantId), \(receipt.key), \(receipt.fingerprint), \(Int32(receipt.status)), \(body), \(receipt.expiresAt))
            ON CONFLICT DO NOTHING RETURNING 1
            """, logger: logger)
        var inserted = false
        for try await _ in rows.decode(Int32.self) { inserted = true }
        if !inserted { throw IdempotencyKeyTaken(tenantId: receipt.tenantId, key: receipt.key) }
    }
}
