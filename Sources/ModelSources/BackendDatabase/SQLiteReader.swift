import Foundation
import Logging
import NIOPosix
import SQLiteNIO

/// MLflow's SQLite backend (`sqlite:///path/mlflow.db`), opened read-only: the `mode=ro` URI
/// refuses every write at the SQLite level, and `PRAGMA query_only` makes sure of it.
final class SQLiteReader: SQLReader {
    private let connection: SQLiteConnection
    let description: String

    /// - Throws: `ArtifactError(.notFound)` when the file does not exist (SQLite would create it).
    static func open(path: String, logger: Logger) async throws -> SQLiteReader {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelSourceError.unreachable("the MLflow database \(path) does not exist")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        // RFC 3986 path characters only; '?', '#' and '%' in a file name must not end the path.
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let escaped = absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute
        let connection = try await SQLiteConnection.open(
            storage: .file(path: "file:\(escaped)?mode=ro"), threadPool: ModelSourceThreads.pool, logger: logger,
            on: MultiThreadedEventLoopGroup.singleton.any())
        _ = try await connection.query("PRAGMA query_only = ON", [])
        return SQLiteReader(connection: connection, description: "sqlite:///\(absolute)")
    }

    private init(connection: SQLiteConnection, description: String) {
        self.connection = connection
        self.description = description
    }

    func rows(_ sql: String, _ binds: [String]) async throws -> [[SQLValue]] {
        try await connection.query(sql, binds.map { .text($0) }).map { row in
            row.columns.map { column in
                switch column.data {
                case .text(let s): .text(s)
                case .integer(let i): .integer(Int64(i))
                case .float(let d): .double(d)
                case .blob, .null: .null
                }
            }
        }
    }

    func tableNames() async throws -> Set<String> {
        Set(try await rows("SELECT name FROM sqlite_master WHERE type = 'table'", []).compactMap { $0.first?.string })
    }

    func close() async {
        try? await connection.close()
    }

    /// A reader dropped without `close()` (its owner gave up on a query past its deadline, or
    /// start-up failed) closes its connection on the way out: SQLiteNIO requires it, and its
    /// debug builds stop the process otherwise. The close holds the connection until it is done.
    deinit {
        if !connection.isClosed { _ = connection.close() }
    }
}
