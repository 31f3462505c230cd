import Foundation

/// RFC 3339 timestamps (`2026-11-22T10:15:00Z`, `...00.123456+02:00`), parsed and written by hand:
/// making an `ISO8601DateFormatter` per sample cost more than scoring it (10,000 samples: ~2 s),
/// and its first use loads ICU's calendar data (6.5 MB resident). Shared by the HTTP layer
/// (request and answer timestamps, log lines) and the SQLite store (its text timestamps).
public enum ISO8601 {
    public static func parse(_ text: String) -> Date? {
        var utf8 = Array(text.utf8)
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
        guard let year = digits(0, 4), utf8[4] == UInt8(ascii: "-"), let month = digits(5, 2), utf8[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), utf8[13] == UInt8(ascii: ":"), let minute = digits(14, 2), utf8[16] == UInt8(ascii: ":"),
            let second = digits(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
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
        utf8.removeAll()
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
    static func format(units total: Int64, digits: Int) -> String {
        var perSecond: Int64 = 1
        for _ in 0..<digits { perSecond *= 10 }
        let perDay = 86_400 * perSecond
        var days = total >= 0 ? total / perDay : (total - (perDay - 1)) / perDay
        let ofDay = total - days * perDay
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
