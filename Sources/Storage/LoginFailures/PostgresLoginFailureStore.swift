import Foundation
import Logging
import PostgresNIO

/// Failed password checks in PostgreSQL, counted by the database's clock across replicas.
public struct PostgresLoginFailureStore: LoginFailureStore {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    public func failures(keys: [String], windowSeconds: Int) async throws -> [String: (count: Int, newestAgeSeconds: Double)] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT key, count(*), EXTRACT(EPOCH FROM now() - max(failed_at))::float8 FROM login_failures
                WHERE key = ANY(\(keys)::text[]) AND failed_at > now() - make_interval(secs => \(Double(windowSeconds)))
                GROUP BY key
                """, logger: database.logger)
            var out: [String: (count: Int, newestAgeSeconds: Double)] = [:]
            for try await (key, count, age) in rows.decode((String, Int64, Double).self) { out[key] = (Int(count), age) }
            return out
        }
    }

    public func recordFailure(keys: [String], windowSeconds: Int) async throws {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                try await connection.query(
                    """
                    DELETE FROM login_failures WHERE key = ANY(\(keys)::text[])
                      AND failed_at <= now() - make_interval(secs => \(Double(windowSeconds)))
                    """, logger: database.logger)
                try await connection.query("INSERT INTO login_failures (key) SELECT unnest(\(keys)::text[])", logger: database.logger)
            }
        }
    }
}
