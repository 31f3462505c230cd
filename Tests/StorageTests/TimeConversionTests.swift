import ComputeSupport
import Foundation
import Testing

@testable import Storage

/// Every time conversion a request can reach is total (no input traps it), and the accepted
/// years are one range: 1970-9999 UTC after the offset.
@Suite("Time conversions are total")
struct TimeConversionTests {
    static func extremes(_ seed: UInt64) -> [Int64] {
        var generator = SplitMix64(seed: seed)
        var values: [Int64] = [.min, .min + 1, .max, .max - 1, 0, -1, 1, 253_402_300_800_000_000, 253_402_300_799_999_999, -62_135_596_800_000_001]
        for _ in 0..<20_000 { values.append(Int64(bitPattern: generator.next())) }
        return values
    }

    /// `ISO8601.format(units:digits:)` for every Int64 (Int64.min overflowed its floor division),
    /// and the SQLite store reads back what it writes, whatever the year.
    @Test func testFormatUnitsIsTotalAndTheStoreReadsItBack() throws {
        for units in Self.extremes(24) {
            for digits in [0, 3, 6, 9, -1, 40] {
                let text = ISO8601.format(units: units, digits: digits)
                #expect(text.hasSuffix("Z") && text.utf8.count >= 20, "\(units) at \(digits) digits: \(text)")
            }
            let text = ISO8601.format(units: units, digits: 6)
            let back = try #require(StoreTime.parse(text), "the store reads back \(text)")
            let micros = Keyset.micros(back)
            // Double seconds keep about 16 digits: exact to the microsecond within centuries of
            // 1970, relatively close beyond.
            #expect(abs(Double(micros) - Double(units)) <= max(1, abs(Double(units)) * 1e-15), "\(text): \(micros) vs \(units)")
        }
    }

    /// `StoreTime.format` and `Keyset.micros` took `Int64(Double)` of any Date: a Date past
    /// Int64 microseconds, infinity or NaN trapped.
    @Test func testStoreTimeAndKeysetAreTotalOverDates() {
        let huge: [Double] = [1e300, -1e300, .infinity, -.infinity, .nan, 9.3e12, -9.3e12, 9_223_372_036_854.775_807, Date.distantFuture.timeIntervalSince1970]
        for seconds in huge {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(StoreTime.format(date).hasSuffix("Z"), "\(seconds)")
            _ = Keyset.micros(date)
            #expect(ISO8601.format(date).hasSuffix("Z") || ISO8601.format(date) == "invalid-date", "\(seconds)")
        }
        #expect(Keyset.micros(Date(timeIntervalSince1970: 1e300)) == .max)
        #expect(Keyset.micros(Date(timeIntervalSince1970: -1e300)) == .min)
        #expect(Keyset.micros(Date(timeIntervalSince1970: .nan)) == 0)
        #expect(Keyset.micros(Date(timeIntervalSince1970: 1_796_272_236.000_001)) == 1_796_272_236_000_001)
    }

    /// The SQLite store wrote year 10000 as `10000-...`, which it could not read: the row was
    /// dropped from pages and streams. Years past 9999 and before 0 read back now.
    @Test func testStoreReadsBackYearsOutsideFourDigits() throws {
        for seconds in [253_402_300_800.0, 253_402_387_199.5, -62_167_219_200.25, 9_000_000_000_000] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = StoreTime.format(date)
            let back = try #require(StoreTime.parse(text), "\(text)")
            #expect(Keyset.micros(back) == Keyset.micros(date), "\(text)")
        }
        #expect(StoreTime.format(Date(timeIntervalSince1970: 253_402_300_800)) == "10000-01-01T00:00:00.000000Z")
        // Requests still take RFC 3339's four-digit years only.
        #expect(ISO8601.parse("10000-01-01T00:00:00Z") == nil && ISO8601.parse("-001-01-01T00:00:00Z") == nil)
    }

    /// One accepted range: years 1970-9999 UTC after the offset, to the millisecond.
    @Test func testAcceptedYearsAfterTheOffset() {
        for text in ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.9995Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:30:00+01:00",
                     "0000-01-01T00:00:00+23:59", "1900-01-01T00:00:00Z"] {
            #expect(ISO8601.parseAccepted(text) == .outOfRange, "\(text)")
        }
        for text in ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59+23:59", "1970-01-01T00:00:00Z", "1969-12-31T23:30:00-01:00"] {
            guard case .time(let date) = ISO8601.parseAccepted(text) else {
                Issue.record("\(text) is inside the accepted years")
                continue
            }
            #expect(ISO8601.format(date).hasPrefix(text.prefix(2) == "19" ? "19" : "9999"), "\(text): answered as \(ISO8601.format(date))")
            #expect(StoreTime.format(date).utf8.count == 27, "\(text): stored with a four-digit year")
        }
        #expect(ISO8601.parseAccepted("yesterday") == .invalid)
        #expect(ISO8601.format(ISO8601.accepted.upperBound) == "9999-12-31T23:59:59.999Z")
        #expect(Keyset.micros(ISO8601.accepted.upperBound) <= ISO8601.acceptedMicros.upperBound)
    }

    /// The SQLite store's text timestamps: written as gmtime_r + printf wrote them, and read back
    /// to the microsecond (what the store contract's round trips rely on).
    @Test func testReadsBackTheStoresMicroseconds() throws {
        var generator = SplitMix64(seed: 3)
        for _ in 0..<2000 {
            let micros = Int64(generator.next() % 4_000_000_000_000_000) - 1_000_000_000_000_000
            let date = Date(timeIntervalSince1970: Double(micros) / 1e6)
            var t = time_t(micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000)
            var parts = tm()
            gmtime_r(&t, &parts)
            let text = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(micros - Int64(t) * 1_000_000))
            #expect(StoreTime.format(date) == text, "the store writes what printf wrote")
            let parsed = try #require(ISO8601.parse(text), "\(text)")
            #expect(Int64((parsed.timeIntervalSince1970 * 1e6).rounded()) == micros, "\(text)")
            #expect(abs(parsed.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6)
        }
    }
}
