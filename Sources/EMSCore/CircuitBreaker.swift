import Foundation

/// Closed, open after `threshold` consecutive failures, half-open after `cooldown`: one probe
/// then decides. Pure (time is passed in), so its rules are tested without a clock.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        case closed, open
        case halfOpen = "half_open"

        /// For the `ems_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
        public var gaugeValue: Double {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }
    }

    /// What the caller may do now.
    public enum Decision: Sendable, Equatable {
        case send
        /// One probe: its outcome closes or reopens the breaker.
        case probe
        case wait(until: Date)
    }

    public let threshold: Int
    public let cooldown: TimeInterval
    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    public private(set) var openedAt: Date?

    public init(threshold: Int, cooldown: TimeInterval) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
    }

    /// Open → half-open once the cooldown has passed.
    public mutating func decide(now: Date) -> Decision {
        switch state {
        case .closed: return .send
        case .halfOpen: return .probe
        case .open:
            let until = (openedAt ?? now).addingTimeInterval(cooldown)
            if now >= until {
                state = .halfOpen
                return .probe
            }
            return .wait(until: until)
        }
    }

    /// Returns the new state when it changed.
    @discardableResult
    public mutating func success() -> State? {
        consecutiveFailures = 0
        openedAt = nil
        guard state != .closed else { return nil }
        state = .closed
        return .closed
    }

    /// Returns the new state when it changed.
    @discardableResult
    public mutating func failure(now: Date) -> State? {
        consecutiveFailures += 1
        switch state {
        case .halfOpen:
            state = .open
            openedAt = now
            return .open
        case .closed where consecutiveFailures >= threshold:
            state = .open
            openedAt = now
            return .open
        default:
            return nil
        }
    }
}
