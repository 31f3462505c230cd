import Dispatch
import Synchronization

/// One throttle for every password check (`POST /auth/token` and HTTP Basic alike), keyed by the
/// username tried and by the client's address: past `maxFailures` failures within `window`, that
/// username, and that address, are refused with 429 until the window has passed since the last
/// failure. A valid API key neither bypasses nor resets it (keys are not passwords).
///
/// Per process: replicas count apart (a fleet-wide count in PostgreSQL is issue 19's).
final class LoginThrottle: Sendable {
    let maxFailures: Int
    let window: UInt64
    private let failures = Mutex<[String: [UInt64]]>([:])
    private let clock: @Sendable () -> UInt64
    /// Past this many keys, the ones with no failure inside the window are dropped.
    static let pruneAbove = 100_000

    init(maxFailures: Int, windowSeconds: Int, clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.maxFailures = maxFailures
        self.window = UInt64(windowSeconds) * 1_000_000_000
        self.clock = clock
    }

    private static func keys(username: String, address: String) -> [String] {
        ["user:\(SecretDigest(username).label)", "ip:\(address)"]
    }

    /// Seconds to wait before this username or address may try a password again; nil when it may now.
    func lockedFor(username: String, address: String) -> Int? {
        let now = clock()
        return failures.withLock { table in
            Self.keys(username: username, address: address).compactMap { key -> Int? in
                let recent = table[key, default: []].filter { now &- $0 < window }
                guard recent.count >= maxFailures, let last = recent.last else { return nil }
                return Int((window - (now - last)) / 1_000_000_000) + 1
            }.max()
        }
    }

    func recordFailure(username: String, address: String) {
        let now = clock()
        failures.withLock { table in
            if table.count > Self.pruneAbove { table = table.filter { $0.value.contains { now &- $0 < window } } }
            for key in Self.keys(username: username, address: address) {
                var recent = table[key, default: []].filter { now &- $0 < window }
                recent.append(now)
                table[key] = Array(recent.suffix(maxFailures))
            }
        }
    }
}
