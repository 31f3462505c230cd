import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// MLflow's PostgreSQL backend (`postgresql://user:pass@host:port/db`), every query in a
/// `READ ONLY` transaction so the server itself refuses any write.
final class PostgresReader: SQLReader {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    let description: String

    static func open(url: URL, logger: Logger) throws -> PostgresReader {
        guard let host = url.host, !host.isEmpty else {
            throw ModelSourceError.configuration("MLFLOW_TRACKING_URI: a postgresql:// URI needs a host")
        }
        let database = String(url.path.drop { $0 == "/" })
        var configuration = PostgresClient.Configuration(
            host: host, port: url.port ?? 5432, username: url.user?.removingPercentEncoding ?? "postgres",
            password: url.password?.removingPercentEncoding, database: database.isEmpty ? nil : database, tls: .disable)
        if let query = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems,
            let mode = query.first(where: { $0.name == "sslmode" })?.value, ["require", "verify-full", "verify-ca"].contains(mode)
        {
            configuration.tls = .require(.makeClientConfiguration())
        }
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 2
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return PostgresReader(client: client, description: "postgresql://\(host):\(url.port ?? 5432)/\(database)")
    }

    private init(client: PostgresClient, description: String) {
        self.client = client
        self.description = description
        self.runner = Task { await client.run() }
    }

    func rows(_ sql: String, _ binds: [String]) async throws -> [[SQLValue]] {
        var bindings = PostgresBindings()
        for bind in binds { bindings.append(bind) }
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        return try await client.withConnection { connection in
            _ = try await connection.query("BEGIN TRANSACTION READ ONLY", logger: connection.logger)
            do {
                var out: [[SQLValue]] = []
                for try await row in try await connection.query(query, logger: connection.logger) {
                    out.append(try row.map(Self.value))
                }
                _ = try await connection.query("COMMIT", logger: connection.logger)
                return out
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: connection.logger)
                throw error
            }
        }
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8, .numeric: return .double(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        default: return .text(try cell.decode(String.self))
        }
    }

    func tableNames() async throws -> Set<String> {
        Set(try await rows("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()", [])
            .compactMap { $0.first?.string })
    }

    func close() async {
        runner.cancel()
    }
}
