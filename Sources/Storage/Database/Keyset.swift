import ComputeSupport
import Foundation

/// Keyset positions as whole microseconds since 1970, what both back ends store exactly.
public enum Keyset {
    /// Total: a time past what `Int64` microseconds hold (about 292,000 years either side of
    /// 1970) is clamped to the nearest end, NaN is 0. Callers that need a real position check
    /// the time against `ISO8601.accepted` first.
    public static func micros(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded()
        if value.isNaN { return 0 }
        // 2^63 is exactly representable and one past Int64.max; -2^63 is Int64.min itself.
        if value >= 9_223_372_036_854_775_808.0 { return .max }
        if value <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(value)
    }

    public static func date(micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }
}
