import Foundation

/// Timestamps as SQLite stores them: fixed-width UTC text with microseconds,
/// `2026-11-22T10:15:00.000000Z`, so text order is time order.
enum StoreTime {
    static func format(_ date: Date) -> String {
        ISO8601.format(units: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()), digits: 6)
    }

    /// What `format` writes and what SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes (milliseconds).
    static func parse(_ text: String) -> Date? {
        ISO8601.parse(text)
    }
}
