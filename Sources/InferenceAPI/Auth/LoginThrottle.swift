import Logging
import Storage

/// One throttle for every password check (`POST /auth/token` and HTTP Basic alike), keyed by the
/// username tried and by the client's address: past `maxFailures` failures within `window`, that
/// username, and that address, are refused with 429 until the window has passed since the last
/// failure. A valid API key neither bypasses nor resets it (keys are not passwords).
///
/// The failures are counted in the store (`LoginFailureStore`): with PostgreSQL every replica
/// counts into the same rows, so guesses spread over N replicas meet one limit. When the store
/// cannot answer, the check fails closed (a short 429), since an uncounted guess is a free one.
final class LoginThrottle: Sendable {
    let maxFailures: Int
    let windowSeconds: Int
    let store: any LoginFailureStore
    let logger: Logger
    /// The wait asked of a client while the store cannot count.
    static let unavailableRetryAfter = 5

    init(maxFailures: Int, windowSeconds: Int, store: any LoginFailureStore, logger: Logger = Logger(label: "inference-api")) {
        self.maxFailures = maxFailures
        self.windowSeconds = windowSeconds
        self.store = store
        self.logger = logger
    }

    private static func keys(username: String, address: String) -> [String] {
        ["user:\(SecretDigest(username).label)", "ip:\(address)"]
    }

    /// Seconds to wait before this username or address may try a password again; nil when it may now.
    func lockedFor(username: String, address: String) async -> Int? {
        do {
            let counts = try await store.failures(keys: Self.keys(username: username, address: address), windowSeconds: windowSeconds)
            return counts.values.compactMap { entry -> Int? in
                guard entry.count >= maxFailures else { return nil }
                return max(1, Int(Double(windowSeconds) - entry.newestAgeSeconds) + 1)
            }.max()
        } catch {
            logger.error("login throttle: failures cannot be counted, refusing password checks", metadata: ["error": "\(error)"])
            return Self.unavailableRetryAfter
        }
    }

    func recordFailure(username: String, address: String) async {
        do {
            try await store.recordFailure(keys: Self.keys(username: username, address: address), windowSeconds: windowSeconds)
        } catch {
            logger.error("login throttle: a failed password check was not recorded", metadata: ["error": "\(error)"])
        }
    }
}
