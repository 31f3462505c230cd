import ComputeSupport
import Foundation
import Logging
import ServiceLifecycle
import Storage
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
    /// Messages claimed at once (one per episode, so order holds), and sent at most at once: a
    /// call that hangs until its deadline holds one of the `concurrency` places, the others go on.
    public var batchSize = 50
    public var concurrency = 8
    /// A call under way this long is a straggler: the next claim waits for the calls younger than
    /// this (so the calls that end together are recorded in one commit, as rounds were), never
    /// for a straggler (one that hangs until its deadline must not hold the others back).
    public var straggler: TimeInterval = 0.25
    /// How long a claimed message is ours before another deliverer may take it
    /// (`EMS_LEASE_SECONDS`): longer than a call's deadline (`EMS_CORE_TIMEOUT_SECONDS`), short
    /// enough that a crashed replica's claims come back soon.
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
/// It claims due messages (at most one per episode, so an episode's changes arrive in order),
/// sends up to `concurrency` at once with their idempotency keys, and records each outcome as its
/// call ends (those that end together in one commit): delivered (2xx, or 409 = EMS Core had it),
/// retried later with exponential backoff and jitter (5xx, 408, 429, timeouts; `Retry-After`
/// honoured, and it also pauses every send), or parked (another 4xx). A call that hangs holds its
/// place until its deadline (`EMS_CORE_TIMEOUT_SECONDS`, head and body); the other places keep
/// claiming and sending, so other episodes' messages never wait behind it. Consecutive failures
/// open the breaker: nothing is sent until a `GET /health` probe succeeds, which closes it and
/// makes every pending message due at once. Delivery is at least once; with the idempotency key,
/// EMS Core sees each change once.
public final class OutboxDeliverer: Service, Sendable {
    private struct Shared {
        var breaker: CircuitBreaker
        /// No send before this (a `Retry-After`).
        var pausedUntil: Date?
        var lastCount: Date?
        var lastWarning: Date?
        var generator = SystemRandomNumberGenerator()
        /// Calls under way: message id → when the call started.
        var inFlight: [Int64: Date] = [:]
        /// Outcomes not recorded in the outbox yet.
        var finished: [OutboxResult] = []
        /// Messages whose last call got no complete answer within its deadline, and when; cleared
        /// by the message's next answer, forgotten after a lease (another replica may have it).
        var timedOut: [Int64: Date] = [:]
    }

    /// What `/ready` says about delivery.
    public struct Status: Sendable, Equatable {
        public var breaker: CircuitBreaker.State
        /// Calls under way.
        public var inFlight: Int
        /// Calls under way for longer than their deadline (+1 s): the deadline should have ended
        /// them, so something under it is stuck.
        public var overdue: Int
        /// Seconds the oldest call under way has run.
        public var oldestCallSeconds: Double?
        /// Messages whose last call got no complete answer within the deadline, not answered since.
        public var timedOut: Int
        /// The deadline of one call (`EMS_CORE_TIMEOUT_SECONDS`).
        public var deadlineSeconds: Double

        /// What is degraded, in words; empty when delivery is healthy.
        public var degraded: [String] {
            var words: [String] = []
            if breaker != .closed { words.append("ems_core: the circuit breaker is \(breaker.rawValue)") }
            let deadline = String(format: "%g", deadlineSeconds)
            if overdue > 0, let oldest = oldestCallSeconds {
                words.append("ems_core: \(overdue) call\(overdue == 1 ? " has" : "s have") run past the \(deadline) s deadline (the oldest \(Int(oldest)) s)")
            }
            if timedOut > 0 {
                words.append(
                    "ems_core: \(timedOut) deliver\(timedOut == 1 ? "y" : "ies") got no complete answer within \(deadline) s (EMS_CORE_TIMEOUT_SECONDS); retrying")
            }
            return words
        }
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

    /// Delivery's state, for `/ready`.
    public func status(now: Date = Date()) -> Status {
        let deadline = client.endpoint.timeout
        let lease = settings.lease
        return shared.withLock { s in
            s.timedOut = s.timedOut.filter { now.timeIntervalSince($0.value) < lease }
            let oldest = s.inFlight.values.min()
            return Status(
                breaker: s.breaker.state, inFlight: s.inFlight.count,
                overdue: s.inFlight.values.count(where: { now.timeIntervalSince($0) > deadline + 1 }), oldestCallSeconds: oldest.map { now.timeIntervalSince($0) },
                timedOut: s.timedOut.count, deadlineSeconds: deadline)
        }
    }

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
            // Claimed, not sent yet.
            var queue: [OutboxMessage] = []
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    let pause: Duration?
                    do {
                        pause = try await self.step(&queue, group: &group)
                    } catch {
                        if Task.isCancelled { break }
                        self.logger.warning("EMS Core outbox round failed", metadata: ["error": "\(error)"])
                        pause = .seconds(self.settings.pollInterval)
                    }
                    if let pause { await self.wakeup.wait(timeout: pause) }
                }
            }
            // Shutting down: the calls under way were cancelled (each hands its message back);
            // record them, and hand back what was claimed but not sent.
            self.handBack(queue, reason: "not sent before shutdown")
            // Not cancelled with the rest (a cancelled store call fails at once); bounded by the
            // store's own timeout, and awaited.
            do { try await Task { try await self.settleFinished() }.value } catch {
                self.logger.warning("EMS Core outbox: could not record the last outcomes", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One turn: record the outcomes so far unless young calls are still under way (those that end
    /// together go in one commit), start what was claimed while there is room, and with nothing
    /// left claimed, claim again. Returns how long to wait before the next turn (nil: go on at
    /// once); a call that ends rings.
    func step(_ queue: inout [OutboxMessage], group: inout DiscardingTaskGroup) async throws -> Duration? {
        let now = Date()
        let (running, youngest) = shared.withLock { ($0.inFlight.count, $0.inFlight.values.max()) }
        let young = youngest.map { settings.straggler - now.timeIntervalSince($0) } ?? 0
        // An episode's next message is due once its last one is recorded: before any claim.
        if young <= 0 { try await settleFinished() }
        try await countIfDue(now)
        let decision = shared.withLock { s -> CircuitBreaker.Decision in
            if let until = s.pausedUntil, until > now { return .wait(until: until) }
            return s.breaker.decide(now: now)
        }
        if decision != .send && !queue.isEmpty {
            // Not sending for a while: what was claimed goes back, due now, rather than sit in a lease.
            handBack(queue, reason: "breaker open")
            queue = []
            return nil
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
        var room = settings.concurrency - running
        guard room > 0 else { return .seconds(settings.pollInterval) }
        if queue.isEmpty {
            // Like a round: the young calls end first (or become stragglers).
            if young > 0 { return .seconds(max(0.01, young)) }
            let claimed = try await outbox.claimDue(now: now, leaseUntil: now.addingTimeInterval(settings.lease), limit: settings.batchSize)
            // A message whose call is still under way (made due again by the breaker's recovery)
            // stays with that call: its outcome is recorded when it ends.
            queue = shared.withLock { s in claimed.filter { $0.id.map { s.inFlight[$0] == nil } ?? false } }
            guard !queue.isEmpty else { return .seconds(settings.pollInterval) }
        }
        while room > 0, !queue.isEmpty {
            let message = queue.removeFirst()
            guard let id = message.id else { continue }
            shared.withLock { $0.inFlight[id] = Date() }
            group.addTask {
                let result = await self.deliver(message)
                self.shared.withLock { s in
                    s.inFlight[id] = nil
                    s.finished.append(result)
                }
                self.wakeup.ring()
            }
            room -= 1
        }
        return queue.isEmpty ? nil : .seconds(settings.pollInterval)
    }

    /// Records the outcomes of the calls that have ended, in one commit (with SQLite's
    /// synchronous=FULL, one fsync for all of them); kept for the next try if the store fails.
    private func settleFinished() async throws {
        let finished = shared.withLock { s in
            defer { s.finished = [] }
            return s.finished
        }
        guard !finished.isEmpty else { return }
        do {
            try await outbox.settle(finished)
        } catch {
            shared.withLock { $0.finished = finished + $0.finished }
            throw error
        }
    }

    /// Claimed messages that will not be sent now: due again at once, their attempts unchanged.
    private func handBack(_ messages: [OutboxMessage], reason: String) {
        let now = Date()
        let results = messages.compactMap { m in m.id.map { OutboxResult(id: $0, .retry(attempts: m.attempts, at: now, error: m.lastError ?? reason)) } }
        shared.withLock { $0.finished += results }
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

    /// Sends one message; the outcome is recorded with the others that end with it.
    private func deliver(_ message: OutboxMessage) async -> OutboxResult {
        let id = message.id ?? 0
        // The breaker may have opened while this message waited: hand it back, due now.
        let allowed = shared.withLock { s in s.breaker.state == .closed && (s.pausedUntil ?? .distantPast) <= Date() }
        guard allowed else {
            return OutboxResult(id: id, .retry(attempts: message.attempts, at: Date(), error: message.lastError ?? "breaker open"))
        }
        let verdict: RetryPolicy.Verdict
        do {
            let answer = try await client.post(message)
            shared.withLock { _ = $0.timedOut.removeValue(forKey: id) }
            verdict = RetryPolicy.verdict(
                status: answer.status, retryAfter: RetryAfter.seconds(answer.retryAfter), body: answer.body, location: answer.location)
        } catch {
            if Task.isCancelled {
                // Shutting down: not an attempt, and not EMS Core's failure.
                return OutboxResult(id: id, .retry(attempts: message.attempts, at: Date(), error: message.lastError ?? "not sent before shutdown"))
            }
            if case EMSCoreError.timedOut = error { shared.withLock { $0.timedOut[id] = Date() } }
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
