import ComputeSupport
import Foundation
import Logging
import NIOSSL
import PostgresNIO

extension PostgresStoreDatabase {
    /// Opens one connection to the database `url` names and runs `SELECT 1`, within `timeout`:
    /// what start-up checks before it serves, so a bad `DATABASE_URL` fails at once with its cause
    /// instead of leaving the pool to retry without end. Throws a `StoreError` whose message says
    /// why in words (connection refused, authentication failed, no such database, no answer).
    public static func probe(url: String, timeout: Duration, logger: Logger) async throws {
        let pooled = try configuration(url: url)
        guard let host = pooled.host, let port = pooled.port else { return }
        let tls: PostgresConnection.Configuration.TLS =
            requiresTLS(url: url) ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: pooled.username, password: pooled.password, database: pooled.database, tls: tls)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                    defer { Task { try? await connection.close() } }
                    try await connection.query("SELECT 1", logger: logger)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw StoreError(backend: "postgresql", message: "no answer within \(timeout)")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(backend: "postgresql", message: cause(of: error))
        }
    }

    /// A connection failure in words, without the URL's password (PostgreSQL's own messages never
    /// hold it).
    static func cause(of error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return cause(of: underlying) }
            return "\(error.code)"
        }
        if let words = ConnectionFailure.words(error) {
            return words == "connection refused" ? "connection refused (is PostgreSQL running at that address?)" : words
        }
        return String("\(error)".prefix(200))
    }
}
