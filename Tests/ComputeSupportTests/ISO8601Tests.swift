import Foundation
import Testing

@testable import ComputeSupport

@Suite("ISO 8601 timestamps")
struct ISO8601Tests {
    /// (Foundation switches to the Julian calendar before 1582; ISO 8601 and Python use the
    /// proleptic Gregorian calendar throughout, as this parser does, so dates before then differ.)
    @Test func testParsesLikeFoundationAndRefusesNonsense() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        for text in ["2026-11-22T10:15:00Z", "2024-02-29T23:59:59+05:30", "1970-01-01T00:00:00-01:00", "2026-11-22T10:15:00.123Z", "1583-06-02T19:06:02-14:20"] {
            let expected = formatter.date(from: text) ?? plain.date(from: text)
            #expect(ISO8601.parse(text).map { abs($0.timeIntervalSince1970 - expected!.timeIntervalSince1970) < 1e-6 } == true, "\(text)")
        }
        for text in ["yesterday", "2026-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2026-11-22 10:15:00Z", "2026-11-22T10:15:00", "2026-11-22T10:15:00Zx", ""] {
            #expect(ISO8601.parse(text) == nil, "\(text)")
        }
    }

    /// The hand-written formatter writes what `ISO8601DateFormatter` (with fractional seconds)
    /// writes, for dates across four centuries, leap days, and fractions at the millisecond edge.
    @Test func testFormatsLikeISO8601DateFormatter() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SplitMix64(seed: 11)
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.001), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: 1_795_000_000.123456), Date(timeIntervalSince1970: 1_795_000_000.9999),
            Date(timeIntervalSince1970: 4_107_542_399.999),  // 2100-02-28T23:59:59.999
            Date(timeIntervalSince1970: -2_208_988_800),  // 1900-01-01
        ]
        for _ in 0..<5000 {
            let seconds = Double(generator.next() % 12_000_000_000) - 3_000_000_000 + Double(generator.next() % 1_000_000) / 1e6
            dates.append(Date(timeIntervalSince1970: seconds))
        }
        for date in dates {
            #expect(ISO8601.format(date) == formatter.string(from: date), "\(date.timeIntervalSince1970)")
        }
    }
}
