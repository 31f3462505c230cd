import Foundation

/// One value of a result row, whatever the database's column type was.
enum SQLValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case double(Double)
    case null

    var string: String? {
        switch self {
        case .text(let s): s
        case .integer(let i): String(i)
        case .double(let d): String(d)
        case .null: nil
        }
    }

    var double: Double? {
        switch self {
        case .text(let s): Double(s)
        case .integer(let i): Double(i)
        case .double(let d): d
        case .null: nil
        }
    }

    var int: Int? {
        switch self {
        case .text(let s): Int(s)
        case .integer(let i): Int(i)
        case .double(let d): Int(exactly: d)
        case .null: nil
        }
    }
}

/// Read-only queries against MLflow's backend database: the one surface the SQLite and PostgreSQL
/// readers share. SQL is written once for both: `$1, $2, ...` placeholders (PostgreSQL's; SQLite
/// reads `$N` as named parameters numbered in order of appearance, so each appears once, in order),
/// and only syntax both accept.
protocol SQLReader: Sendable {
    /// Rows of `sql` with `binds` (text), columns in select order.
    func rows(_ sql: String, _ binds: [String]) async throws -> [[SQLValue]]
    /// Names of the tables in the database (to tell an MLflow 2 schema from a 3 one).
    func tableNames() async throws -> Set<String>
    /// `sqlite:///...` or `postgresql://host/db` without credentials.
    var description: String { get }
    func close() async
}

