import Foundation

/// An upstream's `Retry-After` (RFC 9110 10.2.3): delta-seconds or an HTTP date, read as seconds
/// from now, at most `cap`; nil when absent or unreadable. EMS Core's answers and a tracking
/// server's 429 and 503 carry it. Hand-written: a number or one date format of Foundation's.
public enum RetryAfter {
    public static func seconds(_ value: String?, now: Date = Date(), cap: TimeInterval = 3600) -> TimeInterval? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite, seconds >= 0 { return min(seconds, cap) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), cap)
    }
}
