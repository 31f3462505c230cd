import Dispatch
import Synchronization

/// Token buckets per caller and route class: a bucket holds a minute's allowance and refills
/// continuously, so short bursts pass and a steady excess is refused with the wait to retry.
final class RateLimiter: Sendable {
    struct Decision: Sendable {
        let allowed: Bool
        let limit: Int
        let remaining: Int
        /// Seconds until the bucket is full again.
        let reset: Int
        /// Seconds until one more request is allowed (0 when allowed).
        let retryAfter: Int
    }

    private struct Bucket {
        var tokens: Double
        var updated: UInt64
        let capacity: Double
    }

    let perMinute: Int
    let routes: [String: Int]
    private let buckets = Mutex<[String: Bucket]>([:])
    /// Past this many buckets, full ones (callers idle for a minute) are dropped.
    static let pruneAbove = 50_000

    init(perMinute: Int, routes: [String: Int]) {
        self.perMinute = perMinute
        self.routes = routes
    }

    /// Takes one token from `caller`'s bucket for `pattern` (routes without an override share one).
    func take(caller: String, pattern: String, now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Decision {
        let limit = routes[pattern] ?? perMinute
        let key = routes[pattern] == nil ? caller : "\(caller) \(pattern)"
        let capacity = Double(limit)
        let perSecond = capacity / 60
        return buckets.withLock { buckets in
            if buckets.count > Self.pruneAbove { Self.prune(&buckets, now: now) }
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now, capacity: capacity)
            let elapsed = Double(now &- bucket.updated) / 1e9
            bucket.tokens = min(capacity, bucket.tokens + max(0, elapsed) * perSecond)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[key] = bucket
            return Decision(
                allowed: allowed, limit: limit, remaining: Int(bucket.tokens.rounded(.down)),
                reset: Int(((capacity - bucket.tokens) / perSecond).rounded(.up)),
                retryAfter: allowed ? 0 : max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up))))
        }
    }

    private static func prune(_ buckets: inout [String: Bucket], now: UInt64) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + Double(now &- bucket.updated) / 1e9 * bucket.capacity / 60 < bucket.capacity
        }
    }
}
