import AnomalyDetection
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Hazard episodes (`HAZARD_EPISODES`, on by default): a battery module (`module_id`) whose
/// hazard probability reaches `HAZARD_THRESHOLD` in `ALERT_MIN_SAMPLES` readings in a row opens an
/// episode, `ALERT_CLEAR_SAMPLES` normal readings close it, and each change goes to EMS Core
/// through the outbox, as anomaly episodes do.
///
/// `/predict` needs the model and nothing else, so it never waits on the store: `observe` picks the
/// readings that matter (modules with a hazardous reading, and modules this replica knows to be
/// live: a pending run or an open episode) and queues them; `run` drains the queue in batches, one
/// transaction per tenant per batch, which advances the trackers and writes the episodes and their
/// outbox rows together (the store keeps the trackers, so replicas share them as before).
///
/// What is lost when the process dies (kill -9) or the queue is full is bookkeeping, never an
/// answer: at most the queued readings (`HAZARD_EPISODE_QUEUE_READINGS`), which then count toward
/// no run. A full queue drops a request's readings, counted in
/// `hazard_episode_readings_dropped_total` and logged; it never blocks. While the store does not
/// answer, the queue waits and is retried (the replica reports `degraded`); once it answers, the
/// bookkeeping resumes where it stopped.
final class HazardEpisodes: Service, Sendable {
    static let kind = "hazard"

    struct Settings: Sendable {
        var policy: EpisodePolicy
        /// How often the live modules are re-read from the store (other replicas' episodes).
        var refreshSeconds: TimeInterval = 10
        /// Readings waiting to be recorded, at most.
        var queueReadings: Int = 100_000
        /// Readings recorded in one batch, at most. A batch costs the store one tracker update per
        /// module whatever the readings per module, so the drain takes what is queued (up to this).
        var batchReadings: Int = 100_000
        /// The least time between two drains while readings keep coming: what arrives meanwhile is
        /// recorded together (one tracker update per module), so bookkeeping costs the CPU little
        /// under load; an episode shows this much later at most. A queue half full drains at once.
        var lingerMilliseconds: Int = 1000
        /// On shutdown: how long the batch in hand may take to finish, and then what is still
        /// queued gets as long again for one attempt.
        var finishSeconds: Double = 2
    }

    /// What `/ready` and `/metrics` show.
    struct Status: Sendable, Equatable {
        var queuedReadings: Int
        var droppedReadings: Int
        /// Why the last attempt to record failed; nil once a batch is recorded again.
        var failure: String?
    }

    let store: any EpisodeStore
    let settings: Settings
    let logger: Logger
    let onChanges: (@Sendable () -> Void)?
    let onDrop: (@Sendable (Int) -> Void)?

    private struct Pending: Sendable {
        let sequence: UInt64
        let tenant: String
        /// The readings that matter, in request order, and their modules (parallel arrays: no
        /// grouping on the request path; the drain groups).
        let modules: [String]
        let observations: [EpisodeObservation]
        let readings: Int
    }

    private struct State {
        /// Live modules by tenant and module: the sequence of the last batch queued for it (0:
        /// known from the store).
        var live: [String: [String: UInt64]] = [:]
        var queue: [Pending] = []
        var queuedReadings = 0
        var sequence: UInt64 = 0
        var loadedAt: Date?
        var dropped = 0
        var lastDropWarning: Date?
        var failure: String?
        /// A drain is under way (a batch may be in hand though the queue is empty).
        var draining = false
        /// The service is stopping: a drain finishes the batch in hand and retries nothing.
        var stopping = false
    }

    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(
        store: any EpisodeStore, settings: Settings, logger: Logger = Logger(label: "inference-api"), onChanges: (@Sendable () -> Void)? = nil,
        onDrop: (@Sendable (Int) -> Void)? = nil
    ) {
        self.store = store
        self.settings = settings
        self.logger = logger
        self.onChanges = onChanges
        self.onDrop = onDrop
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var status: Status {
        state.withLock { Status(queuedReadings: $0.queuedReadings, droppedReadings: $0.dropped, failure: $0.failure) }
    }

    // MARK: - The request path

    /// Queues the readings of the modules that matter (a hazardous reading in this request, or
    /// live on this replica); never waits. A module with a hazardous reading becomes live here at
    /// once, so the readings that follow it are queued too. A reading without a timestamp is `now`.
    ///
    /// This runs on every /predict with `module_id`, so it hashes each module at most once in the
    /// usual case (hazardous modules already live): the guard in `make test` measures it.
    func observe(tenant: String, moduleIds: [String?]?, timestamps: [String?]?, probabilities: [Float], threshold: Double) {
        guard let moduleIds,
            let (modules, observations) = chosen(tenant: tenant, moduleIds, timestamps, probabilities, threshold)
        else { return }
        observe(tenant: tenant, modules: modules, observations)
    }

    /// The readings `observe` queues, or nil. A function of its own so that its copy of the live
    /// modules is gone before `observe` marks them (else that write copies the whole dictionary).
    private func chosen(
        tenant: String, _ moduleIds: [String?], _ timestamps: [String?]?, _ probabilities: [Float], _ threshold: Double
    ) -> ([String], [EpisodeObservation])? {
        let count = min(moduleIds.count, probabilities.count)
        let live = state.withLock { $0.live[tenant] } ?? [:]
        // Modules hazardous in this request and not live yet: their other readings matter too.
        var fresh = Set<String>()
        var hazardous = 0
        for index in 0..<count where Double(probabilities[index]) >= threshold {
            guard let module = moduleIds[index] else { continue }
            hazardous += 1
            if live[module] == nil { fresh.insert(module) }
        }
        guard hazardous > 0 || !live.isEmpty else { return nil }
        let now = Date()
        var modules: [String] = [], observations: [EpisodeObservation] = []
        modules.reserveCapacity(hazardous)
        observations.reserveCapacity(hazardous)
        for index in 0..<count {
            guard let module = moduleIds[index] else { continue }
            let p = Double(probabilities[index])
            let isHazardous = p >= threshold
            guard isHazardous || live[module] != nil || (!fresh.isEmpty && fresh.contains(module)) else { continue }
            let time = timestamps?[index].flatMap(ISO8601.parse) ?? now
            modules.append(module)
            observations.append(EpisodeObservation(timestamp: time, score: p, isAnomaly: isHazardous, metric: "hazard_probability"))
        }
        return modules.isEmpty ? nil : (modules, observations)
    }

    /// Queues readings of modules that matter (`modules[i]` is `observations[i]`'s) unless the
    /// queue is full.
    func observe(tenant: String, modules: [String], _ observations: [EpisodeObservation]) {
        var warn = 0
        var dropped = 0
        let queued = state.withLock { state -> Bool in
            let readings = observations.count
            guard state.queuedReadings + readings <= settings.queueReadings else {
                state.dropped += readings
                let now = Date()
                if state.lastDropWarning.map({ now.timeIntervalSince($0) >= 10 }) ?? true {
                    state.lastDropWarning = now
                    warn = state.dropped
                }
                dropped = readings
                return false
            }
            state.sequence += 1
            let sequence = state.sequence
            Self.mark(modules, sequence, in: &state.live[tenant, default: [:]])
            state.queue.append(Pending(sequence: sequence, tenant: tenant, modules: modules, observations: observations, readings: readings))
            state.queuedReadings += readings
            return true
        }
        if dropped > 0 { onDrop?(dropped) }
        if warn > 0 {
            logger.warning(
                "hazard episodes: the queue is full, readings dropped from episode bookkeeping (answers are unaffected)",
                metadata: ["dropped_total": "\(warn)", "queue_readings": "\(settings.queueReadings)"])
        }
        if queued { wake.yield() }
    }

    // MARK: - Recording, off the request path

    func run() async throws {
        let refresh = settings.refreshSeconds
        let wake = self.wake
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // The live set is re-read even when nothing is queued, so another replica's
                // episodes reach this replica's filter.
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: .seconds(refresh)) } catch { return }
                        wake.yield()
                    }
                }
                let clock = ContinuousClock()
                let linger = Duration.milliseconds(self.settings.lingerMilliseconds)
                let halfFull = self.settings.queueReadings / 2
                var last = clock.now - linger
                for await _ in self.wakeups {
                    // Readings that keep coming are recorded together, not one drain each; a
                    // queue half full does not wait out the linger.
                    let due = last + linger
                    while clock.now < due, !Task.isCancelled, self.state.withLock({ $0.queuedReadings < halfFull }) {
                        try? await Task.sleep(until: min(due, clock.now + .milliseconds(50)), clock: clock)
                    }
                    last = clock.now
                    // A graceful shutdown cancels this loop. The drain under way is not cancelled
                    // with it: it finishes the batch in hand (else that batch was lost mid-commit),
                    // takes no other and retries nothing, and is cancelled only if that takes
                    // longer than `finishSeconds` (a store that does not answer).
                    let current = Task { await self.drain(retrying: true) }
                    let finish = self.settings.finishSeconds
                    await withTaskCancellationHandler {
                        await current.value
                    } onCancel: {
                        self.state.withLock { $0.stopping = true }
                        Task {
                            try? await Task.sleep(for: .seconds(finish))
                            current.cancel()
                        }
                    }
                    if Task.isCancelled { break }
                }
                group.cancelAll()
            }
        }
        // On the way out, one attempt at what is still queued, for at most `finishSeconds`: a store
        // that does not answer by then loses it (bookkeeping only).
        state.withLock { $0.stopping = false }
        let last = Task { await self.drain(retrying: false) }
        let clock = ContinuousClock()
        let until = clock.now + .seconds(settings.finishSeconds)
        while clock.now < until, state.withLock({ !$0.queue.isEmpty || $0.draining }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        last.cancel()
        wake.finish()
    }

    /// Records what is queued when it starts, batch by batch, oldest first; what arrives meanwhile
    /// waits for the next drain (else under steady load one drain became back-to-back
    /// transactions of a few requests each, every one paying for all the modules it touched).
    /// While the store fails, the batch in hand is retried with a growing pause (`retrying`), so
    /// nothing is reordered or skipped.
    func drain(retrying: Bool) async {
        let upTo = state.withLock { state in
            state.draining = true
            return state.sequence
        }
        defer { state.withLock { $0.draining = false } }
        await refreshIfDue()
        var pause = Duration.milliseconds(250)
        while let (batch, through) = takeBatch(upTo: upTo) {
            while true {
                do {
                    try await record(batch, through: through)
                    break
                } catch {
                    if Task.isCancelled { return }
                    failed(error, doing: "recording")
                    guard retrying, !state.withLock({ $0.stopping }) else { return }
                    do { try await Task.sleep(for: pause) } catch { return }
                    pause = min(pause * 2, .seconds(2))
                }
            }
            pause = .milliseconds(250)
            if state.withLock({ $0.stopping }) { return }
        }
    }

    /// The oldest queued requests up to sequence `upTo`, at most `batchReadings` readings (at least
    /// one request), merged per tenant and module in the order they were queued; and the last
    /// sequence taken.
    private func takeBatch(upTo: UInt64) -> ([String: [String: [EpisodeObservation]]], UInt64)? {
        // Taken under the lock, grouped outside it: requests queueing meanwhile do not wait.
        let taken: [Pending]? = state.withLock { state in
            guard let first = state.queue.first, first.sequence <= upTo else { return nil }
            var count = 0
            var readings = 0
            while count < state.queue.count, state.queue[count].sequence <= upTo,
                count == 0 || readings + state.queue[count].readings <= settings.batchReadings
            {
                readings += state.queue[count].readings
                count += 1
            }
            let taken = Array(state.queue[..<count])
            state.queue.removeFirst(count)
            state.queuedReadings -= readings
            return taken
        }
        guard let taken, let last = taken.last else { return nil }
        var merged: [String: [String: [EpisodeObservation]]] = [:]
        for pending in taken {
            Self.group(pending, into: &merged[pending.tenant, default: [:]])
        }
        return (merged, last.sequence)
    }

    private func record(_ batch: [String: [String: [EpisodeObservation]]], through: UInt64) async throws {
        var changed = false
        for tenant in batch.keys.sorted() {
            let modules = batch[tenant] ?? [:]
            let recorded = try await store.recordEpisodes(
                tenantId: tenant, kind: Self.kind, observations: modules.mapValues(Self.inTimeOrder),
                policy: settings.policy)
            changed = changed || !recorded.events.isEmpty
            state.withLock { state in
                for module in modules.keys where !recorded.live.contains(module) {
                    // Not live after this batch, unless a later request has queued it since.
                    if let last = state.live[tenant]?[module], last <= through { state.live[tenant]?[module] = nil }
                }
                if state.live[tenant]?.isEmpty == true { state.live[tenant] = nil }
            }
        }
        if state.withLock({ $0.failure.take() }) != nil {
            logger.notice("hazard episodes: recording resumed", metadata: ["queued_readings": "\(status.queuedReadings)"])
        }
        if changed, settings.policy.outbox { onChanges?() }
    }

    /// Notes why the store failed; logged once per outage, not once per retry.
    private func failed(_ error: any Error, doing what: String) {
        let first = state.withLock { state in
            defer { state.failure = "\(error)" }
            return state.failure == nil
        }
        if first {
            logger.warning("hazard episodes: \(what) failed; /predict answers on, the queue waits and is retried", metadata: ["error": "\(error)"])
        }
    }

    private static func mark(_ modules: [String], _ sequence: UInt64, in live: inout [String: UInt64]) {
        for module in modules { live[module] = sequence }
    }

    private static func group(_ pending: Pending, into modules: inout [String: [EpisodeObservation]]) {
        for (module, observation) in zip(pending.modules, pending.observations) { modules[module, default: []].append(observation) }
    }

    /// A module's readings by time (requests usually send them in order: then nothing moves).
    private static func inTimeOrder(_ observations: [EpisodeObservation]) -> [EpisodeObservation] {
        for k in observations.indices.dropFirst() where observations[k].timestamp < observations[k - 1].timestamp {
            return observations.sorted { $0.timestamp < $1.timestamp }
        }
        return observations
    }

    private func refreshIfDue() async {
        let now = Date()
        let due = state.withLock { state in state.loadedAt.map { now.timeIntervalSince($0) >= settings.refreshSeconds } ?? true }
        guard due else { return }
        // Everything queued before this point has been recorded (the drain is the only writer).
        let before = state.withLock { $0.queue.first.map { $0.sequence - 1 } ?? $0.sequence }
        do {
            let rows = try await store.liveTrackers(kind: Self.kind)
            state.withLock { state in
                var live = state.live.mapValues { $0.filter { $0.value > before } }.filter { !$0.value.isEmpty }
                for row in rows where live[row.tenantId]?[row.assetId] == nil { live[row.tenantId, default: [:]][row.assetId] = 0 }
                state.live = live
                state.loadedAt = now
            }
        } catch {
            if !Task.isCancelled { failed(error, doing: "re-reading the live modules") }
        }
    }
}
