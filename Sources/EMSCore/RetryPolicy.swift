import ComputeSupport
import Foundation

/// What to do with EMS Core's answer to one delivery, and when to try again.
public struct RetryPolicy: Sendable, Equatable {
    /// The first retry's delay; each further attempt doubles it, up to `maxDelay`.
    public var baseDelay: TimeInterval
    public var maxDelay: TimeInterval

    public init(baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 60) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random (`unit` in
    /// 0..<1), so retries of many messages spread out but never come sooner than half. A
    /// `Retry-After` from EMS Core is a floor.
    public func delay(attempt: Int, retryAfter: TimeInterval?, unit: Double) -> TimeInterval {
        let exponent = Double(min(max(attempt - 1, 0), 30))
        let full = min(maxDelay, baseDelay * pow(2, exponent))
        let jittered = full / 2 + full / 2 * min(max(unit, 0), 1)
        return max(jittered, retryAfter ?? 0)
    }

    public enum Verdict: Sendable, Equatable {
        /// EMS Core has it (201/2xx, or 409: it had it already).
        case delivered(duplicate: Bool)
        /// Try again later; counts against the breaker.
        case retry(reason: String, retryAfter: TimeInterval?)
        /// Refused for good: a 4xx other than 408, 409 and 429.
        case park(reason: String)
    }

    public static func verdict(status: Int, retryAfter: TimeInterval?, body: String, location: String? = nil) -> Verdict {
        switch status {
        case 200..<300: return .delivered(duplicate: false)
        // A redirect is the deployment's to fix (EMS_CORE_URL), not the message's fault: kept
        // and retried, never followed.
        case 300..<400: return .retry(reason: redirectNote(status: status, location: location) ?? "EMS Core answered \(status)", retryAfter: retryAfter)
        case 409: return .delivered(duplicate: true)
        case 408, 429: return .retry(reason: "EMS Core answered \(status)", retryAfter: retryAfter)
        case 400..<500: return .park(reason: "EMS Core answered \(status): \(UpstreamText.excerpt(body))")
        default: return .retry(reason: "EMS Core answered \(status)", retryAfter: retryAfter)
        }
    }

    /// What a redirect answer means here, or nil for another status.
    public static func redirectNote(status: Int, location: String?) -> String? {
        guard (300..<400).contains(status) else { return nil }
        let target = location.map { "'\(UpstreamText.excerpt($0, limit: 200))'" } ?? "no Location"
        return "EMS Core answered \(status), a redirect to \(target), which is not followed (it would carry the token and the "
            + "message elsewhere): set EMS_CORE_URL to the address EMS Core answers at"
    }

}
