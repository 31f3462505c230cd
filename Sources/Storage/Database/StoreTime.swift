import ComputeSupport
import Foundation
import SQLiteNIO

/// Timestamps as SQLite stores them: fixed-width UTC text with microseconds,
/// `2026-11-22T10:15:00.000000Z`, so text order is time order.
enum StoreTime {
    /// Total: any `Date` is written (clamped to `Int64` microseconds); years outside 0-9999 get
    /// a wider year field, which `parse` reads back.
    static func format(_ date: Date) -> String {
        ISO8601.format(units: Keyset.micros(date), digits: 6)
    }

    /// What `format` writes (any year) and what SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes
    /// (milliseconds).
    static func parse(_ text: String) -> Date? {
        ISO8601.parse(text, extendedYears: true)
    }

    /// A time as a SQLite parameter (`NULL` for none).
    static func data(_ date: Date?) -> SQLiteData {
        date.map { .text(format($0)) } ?? .null
    }
}
