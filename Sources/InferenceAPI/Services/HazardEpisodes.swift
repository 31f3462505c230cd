import AnomalyDetection
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Hazard episodes (`HAZARD_EPISODES`, on by default): a battery module (`module_id`) whose
/// hazard probability reaches `HAZARD_THRESHOLD` in `ALERT_MIN_SAMPLES` readings in a row opens an
/// episode, `ALERT_CLEAR_SAMPLES` normal readings close it, and each change goes to EMS Core
/// through the outbox, as anomaly episodes do.
///
/// `/predict` needs the model and nothing else, so it never waits on the store and does no work
/// per module: `observe` queues a request's decoded arrays as they are when they can matter (a
/// hazardous reading of a module, or a tenant with live modules: a pending run or an open
/// episode). `run` drains the queue: it groups the readings of the modules that matter (live,
/// or hazardous) by module, and records them at most once per `lingerMilliseconds` (or every
/// `batchReadings`), one transaction per tenant that advances the trackers and writes the
/// episodes and their outbox rows together (the store keeps the trackers, so replicas share them
/// as before).
///
/// What is lost when the process dies (kill -9) or the queue is full is bookkeeping, never an
/// answer: at most the queued readings (`HAZARD_EPISODE_QUEUE_READINGS`) and those grouped but not
/// yet recorded (at most one linger's worth, and `batchReadings`), which then count toward no run.
/// A full queue drops a request's readings, counted in `hazard_episode_readings_dropped_total` and
/// logged; it never blocks. While the store does not answer, the grouped readings wait and are
/// retried (the replica reports `degraded`); once it answers, the bookkeeping resumes where it
/// stopped.
final class HazardEpisodes: Service, Sendable {
    static let kind = "hazard"

    struct Settings: Sendable {
        var policy: EpisodePolicy
        /// How often the live modules are re-read from the store (other replicas' episodes).
        var refreshSeconds: TimeInterval = 10
        /// Readings waiting to be recorded, at most.
        var queueReadings: Int = 100_000
        /// Grouped readings recorded in one batch, at most. A batch costs the store one tracker
        /// update per module whatever the readings per module, so the drain records what it has
        /// grouped (up to this).
        var batchReadings: Int = 100_000
        /// The least time between two recordings while readings keep coming: what arrives
        /// meanwhile is recorded together (one tracker update per module), so bookkeeping costs
        /// the CPU little under load; an episode shows this much later at most. A queue half full
        /// is grouped at once (and recorded when due).
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

    /// One request's readings that may matter (parallel arrays).
    struct Pending: Sendable {
        var sequence: UInt64
        let tenant: String
        let moduleIds: [ModuleID]
        let timestamps: [String?]?
        let probabilities: [Float]
        let threshold: Double
        let receivedAt: Date
        let readings: Int
    }

    struct State {
        /// Live modules by tenant (a pending run or an open episode), as the store said after the
        /// last batch recorded, and at each refresh (other replicas' episodes). Only the drain
        /// reads and writes it per module; the request path asks only whether a tenant has any.
        var live: [String: Set<ModuleID>] = [:]
        /// Per tenant, the modules whose readings matter, as `/predict` asks: `known` holds the
        /// live and held modules (rebuilt by the drain), `fresh` the hazardous modules of requests
        /// queued since the drain last took from the queue (so the requests that follow one are
        /// queued too: they may close or extend what it opens).
        var filters: [String: (known: ModuleFilter, fresh: ModuleFilter)] = [:]
        var queue: [Pending] = []
        var queuedReadings = 0
        /// Readings taken from the queue and grouped by module, waiting to be recorded together
        /// (one store transaction per `lingerMilliseconds` at most, whatever the queue's size):
        /// the store's cost is per module and transaction, so recording each queue-full apart
        /// paid it several times a second under load. Counted as queued in `status`.
        var held: [String: [ModuleID: [EpisodeObservation]]] = [:]
        var heldReadings = 0
        var heldThrough: UInt64 = 0
        var lastRecorded: ContinuousClock.Instant?
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

    /// Shared with the recording half (HazardEpisodes+Recording.swift).
    let state = Mutex(State())
    let wakeups: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation

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
        state.withLock { Status(queuedReadings: $0.queuedReadings + $0.heldReadings, droppedReadings: $0.dropped, failure: $0.failure) }
    }

    // MARK: - The request path

    /// Queues the readings of a request that can matter (a module's hazardous reading, and the
    /// readings of modules that are live, held or hazardous in a queued request); never waits. A
    /// reading without a timestamp is the time of its request.
    ///
    /// This runs on every /predict with `module_id`: the guard in `make test` and `make bench`
    /// measure it. Per reading it costs one filter probe under the lock (a few nanoseconds; an
    /// exact lookup, a timestamp parse and two appends per reading cost /predict about 9 % of its
    /// CPU at 1,000 readings); the drain does the exact work for the readings queued.
    func observe(tenant: String, moduleIds: [ModuleID?]?, timestamps: [String?]?, probabilities: [Float], threshold: Double) {
        guard let moduleIds else { return }
        let count = min(moduleIds.count, probabilities.count)
        // The request's hazardous modules: their other readings in it matter too, and so do the
        // readings of later requests (until the drain holds them), through the `fresh` filter.
        var hazardous: [Int] = []
        for index in 0..<count where Double(probabilities[index]) >= threshold {
            if let module = moduleIds[index] { hazardous.append(ModuleFilter.position(module)) }
        }
        let chosen: [Int] = state.withLock { state in
            if !hazardous.isEmpty, state.filters[tenant] == nil { state.filters[tenant] = (ModuleFilter(), ModuleFilter()) }
            guard let filters = state.filters[tenant] else { return [] }
            for position in hazardous { filters.fresh.insert(position) }
            var chosen: [Int] = []
            for index in 0..<count {
                guard let module = moduleIds[index] else { continue }
                if Double(probabilities[index]) >= threshold {
                    chosen.append(index)
                    continue
                }
                let position = ModuleFilter.position(module)
                if filters.known.contains(position) || filters.fresh.contains(position) { chosen.append(index) }
            }
            return chosen
        }
        guard !chosen.isEmpty else { return }
        enqueue(
            Pending(
                sequence: 0, tenant: tenant, moduleIds: chosen.map { moduleIds[$0]! }, timestamps: timestamps.map { all in chosen.map { all[$0] } },
                probabilities: chosen.map { probabilities[$0] }, threshold: threshold, receivedAt: Date(),
                readings: chosen.count))
    }

    /// Queues `pending` if it can matter and the queue has room; counts and warns when it has none.
    private func enqueue(_ pending: Pending) {
        var warn = 0
        var dropped = 0
        let queued = state.withLock { state -> Bool in
            let readings = pending.readings
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
            var pending = pending
            pending.sequence = state.sequence
            state.queue.append(pending)
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
}
