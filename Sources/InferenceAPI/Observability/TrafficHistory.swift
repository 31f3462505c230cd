import Dispatch
import Foundation
import Synchronization

/// The last hour of traffic, a bucket a minute, for the operator's page: request rate, latency
/// percentiles, and the hazard probabilities served. Prometheus keeps the long history; this is
/// what the page can show without one.
///
/// Latencies go into log-spaced bins (10 µs to about 10 s, 8 bins a decade), so a percentile is
/// exact to within a bin (about 33 %) and a bucket is a fixed 400 bytes whatever the traffic.
final class TrafficHistory: Sendable {
    static let minutes = 60
    static let latencyBins = 48
    static let probabilityBins = 10

    struct Bucket {
        var minute: Int = -1
        var requests = 0
        var errors = 0
        var latency = [Int](repeating: 0, count: TrafficHistory.latencyBins)
        var probabilities = [Int](repeating: 0, count: TrafficHistory.probabilityBins)
        var hazardous = 0
    }

    private let buckets = Mutex([Bucket](repeating: Bucket(), count: TrafficHistory.minutes))
    private let clock: @Sendable () -> UInt64

    init(clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.clock = clock
    }

    private func withBucket(_ body: (inout Bucket) -> Void) {
        let minute = Int(clock() / 60_000_000_000)
        buckets.withLock { buckets in
            let slot = minute % Self.minutes
            if buckets[slot].minute != minute { buckets[slot] = Bucket(minute: minute) }
            body(&buckets[slot])
        }
    }

    static func latencyBin(nanoseconds: UInt64) -> Int {
        let micros = max(Double(nanoseconds) / 1000, 10)
        return min(latencyBins - 1, Int((log10(micros) - 1) * 8))
    }

    /// The upper edge of a latency bin, in milliseconds.
    static func latencyEdge(_ bin: Int) -> Double { pow(10, 1 + Double(bin + 1) / 8) / 1000 }

    func request(status: Int, nanoseconds: UInt64) {
        let bin = Self.latencyBin(nanoseconds: nanoseconds)
        withBucket {
            $0.requests += 1
            if status >= 500 { $0.errors += 1 }
            $0.latency[bin] += 1
        }
    }

    func predictions(_ probabilities: [Float], threshold: Double) {
        withBucket { bucket in
            for p in probabilities {
                // Total for any Float (`Int(.nan)` traps): a NaN counts in the first bin.
                let bin = p >= 0 && p < 1 ? Int(p * Float(Self.probabilityBins)) : (p >= 1 ? Self.probabilityBins - 1 : 0)
                bucket.probabilities[min(Self.probabilityBins - 1, bin)] += 1
                if Double(p) >= threshold { bucket.hazardous += 1 }
            }
        }
    }

    struct Summary: Encodable, Sendable {
        struct Minute: Encodable, Sendable {
            /// Minutes before now (0 = this minute).
            let minutes_ago: Int
            let requests: Int
            let errors: Int
            let p50_ms: Double?
            let p95_ms: Double?
            let p99_ms: Double?
        }
        let minutes: [Minute]
        let requests: Int
        let p50_ms: Double?
        let p95_ms: Double?
        let p99_ms: Double?
        /// Counts of served hazard probabilities in [0, 0.1), [0.1, 0.2), ... [0.9, 1].
        let hazard_probability_histogram: [Int]
        let predictions: Int
        let hazardous: Int
    }

    /// The last hour, oldest minute first.
    func summary() -> Summary {
        let now = Int(clock() / 60_000_000_000)
        let live = buckets.withLock { $0.filter { $0.minute > now - Self.minutes && $0.minute >= 0 } }
        var minutes: [Summary.Minute] = []
        var latency = [Int](repeating: 0, count: Self.latencyBins)
        var probabilities = [Int](repeating: 0, count: Self.probabilityBins)
        var hazardous = 0
        for ago in stride(from: Self.minutes - 1, through: 0, by: -1) {
            let bucket = live.first { $0.minute == now - ago } ?? Bucket(minute: now - ago)
            minutes.append(
                .init(
                    minutes_ago: ago, requests: bucket.requests, errors: bucket.errors, p50_ms: Self.percentile(bucket.latency, 0.5),
                    p95_ms: Self.percentile(bucket.latency, 0.95), p99_ms: Self.percentile(bucket.latency, 0.99)))
            for k in 0..<Self.latencyBins { latency[k] += bucket.latency[k] }
            for k in 0..<Self.probabilityBins { probabilities[k] += bucket.probabilities[k] }
            hazardous += bucket.hazardous
        }
        return Summary(
            minutes: minutes, requests: minutes.reduce(0) { $0 + $1.requests }, p50_ms: Self.percentile(latency, 0.5),
            p95_ms: Self.percentile(latency, 0.95), p99_ms: Self.percentile(latency, 0.99), hazard_probability_histogram: probabilities,
            predictions: probabilities.reduce(0, +), hazardous: hazardous)
    }

    /// The upper edge of the bin holding the `q` quantile; nil without requests.
    static func percentile(_ bins: [Int], _ q: Double) -> Double? {
        let total = bins.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = Int((Double(total) * q).rounded(.up))
        var seen = 0
        for (k, n) in bins.enumerated() {
            seen += n
            if seen >= max(rank, 1) { return latencyEdge(k) }
        }
        return latencyEdge(latencyBins - 1)
    }
}
