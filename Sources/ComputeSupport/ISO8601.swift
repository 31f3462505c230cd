import Foundation

/// RFC 3339 timestamps (`2026-11-22T10:15:00Z`, `...00.123456+02:00`), parsed and written by hand:
/// making an `ISO8601DateFormatter` per sample cost more than scoring it (10,000 samples: ~2 s),
/// and its first use loads ICU's calendar data (6.5 MB resident). Shared by the HTTP layer
/// (request and answer timestamps, log lines) and the SQLite store (its text timestamps).
public enum ISO8601 {
    /// The times a request may carry, after applying its offset: years 1970 through 9999 UTC,
    /// to the last millisecond (so an answer's milliseconds cannot round into year 10000). Every
    /// time inside it is written back with a four-digit year, so it sorts as text (the SQLite
    /// store's order), parses again, and fits every store's type.
    public static let accepted: ClosedRange<Date> = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 253_402_300_799.999)

    /// Keyset positions (cursors) may name any microsecond of those years: the conversion of the
    /// last accepted millisecond to microseconds can land a few past it.
    public static let acceptedMicros: ClosedRange<Int64> = 0...253_402_300_799_999_999

    /// What `accepted` says in error messages.
    public static let acceptedDescription = "between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z (UTC, after the offset)"

    /// `text` as a time, or nil when it is not RFC 3339 (four-digit years).
    public static func parse(_ text: String) -> Date? {
        parse(text, extendedYears: false)
    }

    /// `extendedYears` also reads what `format(units:digits:)` writes outside years 0-9999
    /// (more digits, or a leading minus), so everything the SQLite store wrote reads back.
    package static func parse(_ text: String, extendedYears: Bool) -> Date? {
        // Read in place (no copy of the text): /predict parses a timestamp per hazardous reading.
        var text = text
        return text.withUTF8 { utf8 -> Date? in
            if extendedYears, let dash = utf8.dropFirst().firstIndex(of: UInt8(ascii: "-")), dash != 4 || utf8.first == UInt8(ascii: "-") {
                // `YYYYY...` or `-YYY...` (the minus counts in the four places), at most 9 digits
                // (Int64 milliseconds reach 292 million years), then the usual layout.
                let negative = utf8.first == UInt8(ascii: "-")
                let digits = utf8[(negative ? 1 : 0)..<dash]
                guard ((negative ? 3 : 5)...9).contains(digits.count), digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
                let magnitude = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
                let usual = Array("0000".utf8) + utf8[dash...]
                return usual.withUnsafeBufferPointer { layout($0, year: negative ? -magnitude : magnitude) }
            }
            return layout(utf8, year: nil)
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.f...](Z|±HH:MM)`; `yearValue` replaces the four year digits.
    private static func layout(_ utf8: UnsafeBufferPointer<UInt8>, year yearValue: Int?) -> Date? {
        guard utf8.count >= 20 else { return nil }
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= utf8.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                let c = utf8[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let fourDigits = digits(0, 4), utf8[4] == UInt8(ascii: "-"), let month = digits(5, 2), utf8[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), utf8[13] == UInt8(ascii: ":"), let minute = digits(14, 2), utf8[16] == UInt8(ascii: ":"),
            let second = digits(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let year = yearValue ?? fourDigits
        var i = 19
        var fraction = 0.0
        if i < utf8.count, utf8[i] == UInt8(ascii: ".") {
            i += 1
            // The digits as an integer over a power of ten (one rounding, not one per digit);
            // past nanoseconds they cannot change a Date.
            var units = 0
            var scale = 1.0
            let start = i
            while i < utf8.count, utf8[i] >= 48, utf8[i] <= 57 {
                if i - start < 9 {
                    units = units * 10 + Int(utf8[i] - 48)
                    scale *= 10
                }
                i += 1
            }
            guard i > start else { return nil }
            fraction = Double(units) / scale
        }
        guard i < utf8.count else { return nil }
        var offset = 0
        switch utf8[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = utf8[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = digits(i + 1, 2), i + 3 < utf8.count, utf8[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2), oh < 24, om < 60 else {
                return nil
            }
            offset = sign * (oh * 3600 + om * 60)
            i += 6
        default: return nil
        }
        guard i == utf8.count else { return nil }
        // Days from the civil date (proleptic Gregorian), then seconds.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        guard day <= daysIn(month: month, year: year) else { return nil }
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// `text` as a time inside `accepted`: nil when it does not parse, `.outOfRange` when it
    /// parses to a time outside.
    public static func parseAccepted(_ text: String) -> Accepted {
        guard let date = parse(text) else { return .invalid }
        return accepted.contains(date) ? .time(date) : .outOfRange
    }

    public enum Accepted: Equatable, Sendable {
        case time(Date)
        case invalid
        case outOfRange
    }

    /// `2026-11-22T10:15:00.123Z`: what `ISO8601DateFormatter` with fractional seconds writes
    /// (the same milliseconds: CF's conversion, rounded half up), by hand. The formatter loads
    /// ICU's calendar data on first use, 6.5 MB of resident memory for a log line's timestamp.
    public static func format(_ date: Date) -> String {
        let millis = ((date.timeIntervalSinceReferenceDate + 978_307_200) * 1000 + 0.5).rounded(.down)
        guard millis.isFinite, abs(millis) < 1e17 else { return "invalid-date" }
        return format(units: Int64(millis), digits: 3)
    }

    /// `YYYY-MM-DDTHH:MM:SS.fffZ` from `units` of 10^-digits seconds since 1970 (UTC): the
    /// formatting shared by the answers' milliseconds and the SQLite store's microseconds.
    /// Total over every `Int64` (years past 9999 get more digits, years before 0 a minus);
    /// `digits` is clamped to 0...9.
    package static func format(units total: Int64, digits requested: Int) -> String {
        let digits = min(max(requested, 0), 9)
        var perSecond: Int64 = 1
        for _ in 0..<digits { perSecond *= 10 }
        let perDay = 86_400 * perSecond
        // Floor division without forming `total - (perDay - 1)`, which overflows near Int64.min.
        var days = total / perDay
        var ofDay = total % perDay
        if ofDay < 0 {
            days -= 1
            ofDay += perDay
        }
        let seconds = Int(ofDay / perSecond)
        let fraction = Int(ofDay % perSecond)
        // Civil date from days since 1970-01-01 (proleptic Gregorian).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
        var out = [UInt8]()
        out.reserveCapacity(20 + digits)
        /// `value` zero-padded to `width` digits, as printf's %0*d: all of its digits when wider,
        /// a leading minus counted in the width.
        func put(_ value: Int, _ width: Int) {
            var digits = Array(String(value.magnitude).utf8)
            let room = width - (value < 0 ? 1 : 0)
            if digits.count < room { digits.insert(contentsOf: repeatElement(UInt8(ascii: "0"), count: room - digits.count), at: 0) }
            if value < 0 { out.append(UInt8(ascii: "-")) }
            out += digits
        }
        put(year, 4)
        out.append(UInt8(ascii: "-"))
        put(month, 2)
        out.append(UInt8(ascii: "-"))
        put(day, 2)
        out.append(UInt8(ascii: "T"))
        put(seconds / 3600, 2)
        out.append(UInt8(ascii: ":"))
        put(seconds / 60 % 60, 2)
        out.append(UInt8(ascii: ":"))
        put(seconds % 60, 2)
        if digits > 0 {
            out.append(UInt8(ascii: "."))
            put(fraction, digits)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
