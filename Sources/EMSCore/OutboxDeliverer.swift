import AnomalyDetection
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// How the deliverer behaves (`EMS_*` settings).
public struct DeliverySettings: Sendable, Equatable {
    /// Consecutive failures that open the breaker (`EMS_BREAKER_FAILURES`).
    public var breakerFailures = 5
    /// Seconds the breaker stays open before a probe (`EMS_BREAKER_COOLDOWN_SECONDS`).
    public var breakerCooldown: TimeInterval = 10
    public var retry = RetryPolicy()
    /// Longest sleep between looks at the outbox when nothing rings (`EMS_POLL_MILLISECONDS`).
    public var pollInterval: TimeInterval = 1
    /// Messages claimed per round, and sent at once (one per episode, so order holds).
    public var batchSize = 50
    public var concurrency = 8
    /// How long a claimed message is ours before another deliverer may take it
    /// (`EMS_LEASE_SECONDS`): longer than a round can take (the breaker stops a round after a
    /// few timeouts), short enough that a crashed replica's claims come back soon.
    public var lease: TimeInterval = 60
    /// At start, make every pending message due (their leases were this process's own: one
    /// process per database, as with SQLite).
    public var releaseLeasesAtStart = false
    /// Pending messages past which a warning is logged (`EMS_OUTBOX_WARN_SIZE`).
    public var outboxWarnSize = 10_000
    /// How often the outbox is counted for the gauges.
    public var countInterval: TimeInterval = 5

    public init() {}
}

/// What the deliverer reports, for metrics (the application's `Telemetry` implements it).
public protocol DeliveryObserver: Sendable {
    func delivered(target: OutboxMessage.Target, duplicate: Bool, latencySeconds: Double)
    func failed(target: OutboxMessage.Target)
    func parked(target: OutboxMessage.Target)
    func breakerChanged(_ state: CircuitBreaker.State)
    func outboxCounted(_ counts: OutboxCounts)
}

/// Posts pending outbox messages to EMS Core, as a service of the application.
///
/// Each round claims due messages (at most one per episode, so an episode's changes arrive in
/// order), sends them with their idempotency keys, and records the outcome: delivered (2xx, or 409
/// = EMS Core had it), retried later with exponential backoff and jitter (5xx, 408, 429,
/// timeouts; `Retry-After` honoured, and it also pauses every send), or parked (another 4xx).
/// Consecutive failures open the breaker: nothing is sent until a `GET /health` probe succeeds,
/// which closes it and makes every pending message due at once. Delivery is at least once; with
/// the idempotency key, EMS Core sees each change once.
public final class OutboxDeliverer: Service, Sendable {
    private struct Shared {
        var breaker: CircuitBreaker
        /// No send before this (a `Retry-After`).
        var pausedUntil: Date?
        var lastCount: Date?
        var lastWarning: Date?
        var generator = SystemRandomNumberGenerator()
    }

    let outbox: any OutboxStore
    let client: EMSCoreClient
    let settings: DeliverySettings
    let observer: (any DeliveryObserver)?
    let logger: Logger
    private let shared: Mutex<Shared>
    private let wakeup = Wakeup()
    /// Closed until the schema exists (`open()`, after migrations).
    private let gate = Mutex(false)

    public init(outbox: any OutboxStore, client: EMSCoreClient, settings: DeliverySettings, observer: (any DeliveryObserver)?, logger: Logger) {
        self.outbox = outbox
        self.client = client
        self.settings = settings
        self.observer = observer
        self.logger = logger
        shared = Mutex(Shared(breaker: CircuitBreaker(threshold: settings.breakerFailures, cooldown: settings.breakerCooldown)))
    }

    /// The breaker's state, for `/ready`.
    public var breakerState: CircuitBreaker.State { shared.withLock { $0.breaker.state } }

    /// New rows were committed (or parked ones retried): look now rather than at the next poll.
    public func nudge() { wakeup.ring() }

    /// Lets `run()` start delivering: call once the migrations have run.
    public func open() {
        gate.withLock { $0 = true }
        wakeup.ring()
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !self.gate.withLock({ $0 }) {
                await self.wakeup.wait(timeout: .milliseconds(50))
                if Task.isCancelled { return }
            }
            self.observer?.breakerChanged(.closed)
            if self.settings.releaseLeasesAtStart {
                do { try await self.outbox.expedite(now: Date()) } catch {
                    self.logger.warning("EMS Core outbox: could not release the leases of the last run", metadata: ["error": "\(error)"])
                }
            }
            self.logger.info("EMS Core deliverer started", metadata: ["ems_core_url": "\(self.client.endpoint.baseURL)"])
            while !Task.isCancelled {
                let pause: Duration?
                do {
                    pause = try await self.round()
                } catch {
                    self.logger.warning("EMS Core outbox round failed", metadata: ["error": "\(error)"])
                    pause = .seconds(self.settings.pollInterval)
                }
                if let pause { await self.wakeup.wait(timeout: pause) }
            }
        }
    }

    /// One round; returns how long to wait before the next (nil: go on at once).
    func round() async throws -> Duration? {
        let now = Date()
        try await countIfDue(now)
        let decision = shared.withLock { s -> CircuitBreaker.Decision in
            if let until = s.pausedUntil, until > now { return .wait(until: until) }
            return s.breaker.decide(now: now)
        }
        switch decision {
        case .wait(let until):
            return .seconds(max(0.01, min(until.timeIntervalSince(now), settings.pollInterval)))
        case .probe:
            await probe()
            return nil
        case .send:
            break
        }
        let claimed = try await outbox.claimDue(now: now, leaseUntil: now.addingTimeInterval(settings.lease), limit: settings.batchSize)
        guard !claimed.isEmpty else { return .seconds(settings.pollInterval) }
        let results = await withTaskGroup(of: OutboxResult?.self) { group in
            var running = 0
            var results: [OutboxResult] = []
            for message in claimed {
                if running >= settings.concurrency, let done = await group.next() {
                    running -= 1
                    if let done { results.append(done) }
                }
                group.addTask { await self.deliver(message) }
                running += 1
            }
            for await done in group { if let done { results.append(done) } }
            return results
        }
        // One commit for the round: with SQLite's synchronous=FULL, one fsync instead of one per message.
        try await outbox.settle(results)
        return nil
    }

    private func probe() async {
        do {
            try await client.health()
            let changed = shared.withLock { $0.breaker.success() }
            if let changed {
                logger.notice("EMS Core is back: circuit breaker closed", metadata: ["breaker": "\(changed.rawValue)"])
                observer?.breakerChanged(changed)
                try? await outbox.expedite(now: Date())
            }
        } catch {
            let changed = shared.withLock { $0.breaker.failure(now: Date()) }
            if let changed {
                logger.warning("EMS Core probe failed: circuit breaker open", metadata: ["error": "\(error)", "breaker": "\(changed.rawValue)"])
                observer?.breakerChanged(changed)
            }
        }
    }

    /// Sends one message; the result is recorded with the rest of the round's.
    private func deliver(_ message: OutboxMessage) async -> OutboxResult? {
        guard let id = message.id else { return nil }
        // The breaker may have opened while this batch was sent: hand the message back, due now.
        let allowed = shared.withLock { s in s.breaker.state == .closed && (s.pausedUntil ?? .distantPast) <= Date() }
        guard allowed else {
            return OutboxResult(id: id, .retry(attempts: message.attempts, at: Date(), error: message.lastError ?? "breaker open"))
        }
        let verdict: RetryPolicy.Verdict
        do {
            let answer = try await client.post(message)
            verdict = RetryPolicy.verdict(status: answer.status, retryAfter: RetryPolicy.retryAfter(answer.retryAfter), body: answer.body)
        } catch {
            verdict = .retry(reason: "\(error)", retryAfter: nil)
        }
        let attempts = message.attempts + 1
        let now = Date()
        switch verdict {
        case .delivered(let duplicate):
            let changed = shared.withLock { $0.breaker.success() }
            if let changed { observer?.breakerChanged(changed) }
            observer?.delivered(target: message.target, duplicate: duplicate, latencySeconds: now.timeIntervalSince(message.createdAt))
            return OutboxResult(id: id, .delivered(at: now))
        case .retry(let reason, let retryAfter):
            let (delay, changed) = shared.withLock { s -> (TimeInterval, CircuitBreaker.State?) in
                let unit = Double.random(in: 0..<1, using: &s.generator)
                let delay = settings.retry.delay(attempt: attempts, retryAfter: retryAfter, unit: unit)
                if let retryAfter { s.pausedUntil = max(s.pausedUntil ?? now, now.addingTimeInterval(retryAfter)) }
                return (delay, s.breaker.failure(now: now))
            }
            observer?.failed(target: message.target)
            logger.debug("EMS Core delivery failed; will retry", metadata: ["outbox_id": "\(id)", "attempts": "\(attempts)", "reason": "\(reason)"])
            if let changed {
                logger.warning("EMS Core failing: circuit breaker open", metadata: ["reason": "\(reason)", "breaker": "\(changed.rawValue)"])
                observer?.breakerChanged(changed)
            }
            return OutboxResult(id: id, .retry(attempts: attempts, at: now.addingTimeInterval(delay), error: reason))
        case .park(let reason):
            // A refusal is an answer: EMS Core is up.
            let changed = shared.withLock { $0.breaker.success() }
            if let changed { observer?.breakerChanged(changed) }
            observer?.parked(target: message.target)
            logger.warning(
                "EMS Core refused a message: parked",
                metadata: ["outbox_id": "\(id)", "idempotency_key": "\(message.idempotencyKey)", "reason": "\(reason)"])
            return OutboxResult(id: id, .parked(attempts: attempts, reason: reason))
        }
    }

    private func countIfDue(_ now: Date) async throws {
        let due = shared.withLock { s -> Bool in
            guard s.lastCount.map({ now.timeIntervalSince($0) >= settings.countInterval }) ?? true else { return false }
            s.lastCount = now
            return true
        }
        guard due else { return }
        let counts = try await outbox.counts()
        observer?.outboxCounted(counts)
        guard counts.pending >= settings.outboxWarnSize else { return }
        let warn = shared.withLock { s -> Bool in
            guard s.lastWarning.map({ now.timeIntervalSince($0) >= 60 }) ?? true else { return false }
            s.lastWarning = now
            return true
        }
        if warn {
            logger.warning(
                "EMS Core outbox is growing",
                metadata: [
                    "pending": "\(counts.pending)", "warn_size": "\(settings.outboxWarnSize)",
                    "oldest_pending": "\(counts.oldestPending.map(ISO8601.format) ?? "none")",
                    "breaker": "\(breakerState.rawValue)",
                ])
        }
    }
}
