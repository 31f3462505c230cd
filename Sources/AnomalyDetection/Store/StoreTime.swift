import Foundation

/// Timestamps as SQLite stores them: fixed-width UTC text with microseconds,
/// `2026-11-22T10:15:00.000000Z`, so text order is time order.
enum StoreTime {
    static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(fraction))
    }

    /// What `format` writes and what SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes (milliseconds).
    static func parse(_ text: String) -> Date? {
        ISO8601.parse(text)
    }
}
