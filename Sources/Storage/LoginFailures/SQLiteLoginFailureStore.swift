import Foundation
import SQLiteNIO

/// Failed password checks in the SQLite file (one process: the count is this process's).
public struct SQLiteLoginFailureStore: LoginFailureStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func failures(keys: [String], windowSeconds: Int) async throws -> [String: (count: Int, newestAgeSeconds: Double)] {
        let now = Date()
        let since = StoreTime.format(now.addingTimeInterval(-Double(windowSeconds)))
        var out: [String: (count: Int, newestAgeSeconds: Double)] = [:]
        for key in keys {
            let rows = try await database.rows(
                "SELECT count(*) AS n, max(failed_at) AS newest FROM login_failures WHERE key = ? AND failed_at > ?", [.text(key), .text(since)])
            guard let row = rows.first, let count = row.column("n")?.integer, count > 0,
                let newest = row.column("newest")?.string.flatMap(StoreTime.parse)
            else { continue }
            out[key] = (count, now.timeIntervalSince(newest))
        }
        return out
    }

    public func recordFailure(keys: [String], windowSeconds: Int) async throws {
        let now = Date()
        let cutoff = StoreTime.format(now.addingTimeInterval(-Double(windowSeconds)))
        try await database.transaction {
            for key in keys {
                _ = try await database.rows("DELETE FROM login_failures WHERE key = ? AND failed_at <= ?", [.text(key), .text(cutoff)])
                _ = try await database.rows("INSERT INTO login_failures (key, failed_at) VALUES (?, ?)", [.text(key), .text(StoreTime.format(now))])
            }
        }
    }
}
