import Artifacts
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Champion and challenger side by side on live traffic (`/models/challenger`).
///
/// The experiment is the fleet's (`FleetStore`: one row every replica follows, like the served
/// model), so every replica runs the same one and a replica started later joins it. This replica
/// loads the recorded run and, per request:
/// - **shadow**: `/predict` answers with the champion alone; the challenger scores the same
///   readings from a bounded queue drained off the request path (a full queue drops the readings,
///   counted, and never waits);
/// - **canary**: each reading goes to one run by a stable hash of its `module_id` (a request
///   without module ids as a whole, by a draw), so a module never changes run during the
///   experiment and `percent` of the modules are the challenger's.
///
/// Counters (`ChallengerStats`) are this replica's; with a shared store each replica writes its
/// own every `tickSeconds` and a status read sums them. The guard (`ChallengerGuard`) checks the
/// fleet's sums on every tick and stops the experiment for the whole fleet when a rule fails.
final class ChallengerService: Service, Sendable {
    struct Settings: Sendable {
        var rules = ChallengerGuard.Rules()
        /// Shadow readings waiting for the challenger, at most.
        var queueReadings = 10_000
        /// How long the shadow drain waits after the first queued request, so it takes many at once.
        var shadowLingerMilliseconds = 20
        /// Where the shadow scores: `.background` (SCHED_IDLE: idle CPU only; the default) or, for
        /// tests that need every reading compared on a machine busy with other tests, `.blocking`.
        var shadowWork = Offload.Work.background
        /// How often counters are written, the fleet's experiment re-read and the guard checked.
        var tickSeconds = 1.0
        /// Seconds between looks at a challenger alias (`MODEL_REFRESH_SECONDS`; 0: never).
        var aliasRefreshSeconds = 30
        /// Test hooks only: the challenger's model step made slow or failing.
        var faults = Faults()
    }

    struct Faults: Sendable {
        var delay: Duration?
        var fail = false
    }

    enum Mode: String, Sendable {
        case shadow
        case canary
    }

    /// The experiment this replica runs.
    struct Running: Sendable {
        let experiment: FleetExperiment
        let model: HazardModel
        let mode: Mode
        let percent: Int
    }

    /// How one request's readings are scored.
    enum Plan: Sendable {
        /// The champion answers; the challenger scores the same readings later.
        case shadow(version: Int64)
        /// Per reading, whether the challenger answers it.
        case canary(version: Int64, challenger: HazardModel, routes: [Bool])
    }

    struct State {
        var running: Running?
        /// The last experiment this replica knew (running or not), for the status.
        var record: FleetExperiment?
        var stats = ChallengerStats()
        /// The experiment `stats` count (kept after it ends, for the status of a stopped one).
        var statsVersion: Int64?
        var dirty = false
        var queue: [ShadowJob] = []
        var queuedReadings = 0
    }

    struct ShadowJob: Sendable {
        let version: Int64
        let raw: [Double]
        let rows: Int
        let champion: [Float]
        let championNanoseconds: Int64
    }

    let store: any FleetStore
    let models: ModelService
    let replicaId: String
    let threshold: Double
    let settings: Settings
    let telemetry: Telemetry?
    let logger: Logger
    /// Writes an audit entry when an experiment starts and ends (`model_type = 'xgboost_challenger'`).
    let audit: ActivationAudit?
    private let state = Mutex(State())
    /// Set while an experiment runs: the request path reads only this when none does.
    private let engaged = Atomic<Bool>(false)
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// One change of experiment at a time (a start, a follow, an end).
    private let changes = AsyncLock()
    /// The fleet's notifications that the experiment changed (`FleetCoordinator`).
    private let fleetChanges: AsyncStream<Void>?
    /// When the challenger alias was last looked at.
    let aliasLookedAt = Mutex<ContinuousClock.Instant?>(nil)

    init(
        store: any FleetStore, models: ModelService, replicaId: String, threshold: Double, settings: Settings = Settings(),
        telemetry: Telemetry? = nil, audit: ActivationAudit? = nil, logger: Logger = Logger(label: "inference-api"),
        fleetChanges: AsyncStream<Void>? = nil
    ) {
        self.fleetChanges = fleetChanges
        self.store = store
        self.models = models
        self.replicaId = replicaId
        self.threshold = threshold
        self.settings = settings
        self.telemetry = telemetry
        self.audit = audit
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var running: Running? { engaged.load(ordering: .relaxed) ? state.withLock { $0.running } : nil }

    // MARK: - The request path

    /// How `rows` readings decoded for `champion` are scored; nil when no experiment runs (or its
    /// challenger reads other features than the champion serving now).
    func plan(champion: HazardModel, moduleIds: [ModuleID?]?, rows: Int) -> Plan? {
        guard engaged.load(ordering: .relaxed), let running = state.withLock({ $0.running }) else { return nil }
        // A challenger that is the champion now (promoted outside the experiment) compares nothing.
        guard running.model.runId != champion.runId, running.model.featureNames == champion.featureNames else { return nil }
        switch running.mode {
        case .shadow:
            return .shadow(version: running.experiment.version)
        case .canary:
            let percent = running.percent
            var routes = [Bool](repeating: false, count: rows)
            // Readings without a module id follow the request's draw.
            let draw = ChallengerRouting.drawsChallenger(percent: percent)
            for row in 0..<rows {
                if let module = moduleIds?[row] {
                    routes[row] = ChallengerRouting.bucket(module) < percent
                } else {
                    routes[row] = draw
                }
            }
            return .canary(version: running.experiment.version, challenger: running.model, routes: routes)
        }
    }

    /// Queues champion-answered readings for the challenger; never waits (a full queue drops them).
    func shadow(version: Int64, raw: [Double], rows: Int, champion: [Float], championNanoseconds: Int64) {
        // One lock, one append; the drain is woken only when the queue was empty (it takes
        // everything queued after a linger), and the champion's step is counted there.
        let wakeDrain = state.withLock { state -> Bool in
            guard state.running?.experiment.version == version else { return false }
            guard state.queuedReadings + rows <= settings.queueReadings else {
                state.stats.shadowDropped += rows
                state.dirty = true
                return false
            }
            state.queue.append(ShadowJob(version: version, raw: raw, rows: rows, champion: champion, championNanoseconds: championNanoseconds))
            state.queuedReadings += rows
            return state.queue.count == 1
        }
        if wakeDrain { wake.yield() }
    }

    /// A canary request's model steps: readings per run, each step's time, whether the
    /// challenger's failed (its readings then went to the champion).
    func canary(version: Int64, champion: (rows: Int, nanoseconds: Int64)?, challenger: (rows: Int, nanoseconds: Int64, failed: Bool)?) {
        state.withLock { state in
            guard state.running?.experiment.version == version else { return }
            if let champion {
                state.stats.calls.champion += 1
                state.stats.routed.champion += champion.rows
                state.stats.latency.champion.record(nanoseconds: champion.nanoseconds)
            }
            if let challenger {
                state.stats.calls.challenger += 1
                if challenger.failed {
                    state.stats.errors.challenger += 1
                    state.stats.routed.champion += challenger.rows
                } else {
                    state.stats.routed.challenger += challenger.rows
                    state.stats.latency.challenger.record(nanoseconds: challenger.nanoseconds)
                }
            }
            state.dirty = true
        }
        if let champion {
            telemetry?.modelStep(role: .champion, nanoseconds: champion.nanoseconds)
            telemetry?.routed(role: .champion, readings: champion.rows)
        }
        if let challenger {
            telemetry?.modelStep(role: .challenger, nanoseconds: challenger.nanoseconds)
            telemetry?.routed(role: challenger.failed ? .champion : .challenger, readings: challenger.rows)
        }
    }

    /// The challenger's model step with the test hooks applied.
    func challengerProbabilities(_ model: HazardModel, raw: UnsafeBufferPointer<Double>, rows: Int) throws -> [Float] {
        if settings.faults.fail { throw ArtifactError(.xgboost, "the challenger failed (test fault)") }
        if let delay = settings.faults.delay {
            // A slow model spends CPU: spin, so the model step's CPU time shows it.
            let end = Self.cpuNanoseconds() + Self.nanoseconds(delay)
            while Self.cpuNanoseconds() < end {}
        }
        return try model.probabilities(raw: raw, rows: rows)
    }

    // MARK: - Feedback

    /// The challenger of the running experiment when it reads the champion's features.
    func feedbackChallenger(champion: HazardModel) -> (version: Int64, model: HazardModel)? {
        guard let running, running.model.runId != champion.runId, running.model.featureNames == champion.featureNames else { return nil }
        return (running.experiment.version, running.model)
    }

    /// Both runs' probabilities of the same labelled readings.
    func scoreFeedback(version: Int64, outcomes: [Int], champion: [Float], challenger: [Float]) {
        state.withLock { state in
            guard state.running?.experiment.version == version else { return }
            for (index, outcome) in outcomes.enumerated() where index < champion.count && index < challenger.count {
                state.stats.feedback.champion.add(probability: champion[index], outcome: outcome, threshold: threshold)
                state.stats.feedback.challenger.add(probability: challenger[index], outcome: outcome, threshold: threshold)
            }
            state.dirty = true
        }
    }

    // MARK: - The shadow drain

    /// Scores what the queue holds, after `shadowLingerMilliseconds` so that the readings of many
    /// requests are taken at once: one trip to the background thread (`Offload.Work.background`:
    /// SCHED_IDLE, so under load the shadow takes only idle CPU and its queue fills and drops instead
    /// of delaying answers), one lock for the counters, one increment per metric. Each request's
    /// readings are still scored and timed on their own, as the champion scored them.
    private func drainShadow() async {
        while true {
            try? await Task.sleep(for: .milliseconds(settings.shadowLingerMilliseconds))
            let (jobs, running) = state.withLock { state -> ([ShadowJob], Running?) in
                defer {
                    state.queue = []
                    state.queuedReadings = 0
                }
                return (state.queue, state.running)
            }
            guard !jobs.isEmpty else { return }
            guard let running else { continue }
            let model = running.model, version = running.experiment.version
            let current = jobs.filter { $0.version == version }
            // Everything per request happens on the background thread, into counters of its own;
            // it takes no lock the request path takes (a preempted SCHED_IDLE thread holding one
            // would stall requests). The event loop then adds them up under one lock.
            let threshold = self.threshold, telemetry = self.telemetry
            let counted = try? await Offload.run(settings.shadowWork) { () -> ChallengerStats in
                var delta = ChallengerStats()
                var compared = 0, disagreements = 0
                for job in current {
                    delta.calls.champion += 1
                    delta.latency.champion.record(nanoseconds: job.championNanoseconds)
                    telemetry?.modelStep(role: .champion, nanoseconds: job.championNanoseconds)
                    let started = Self.cpuNanoseconds()
                    let probabilities = try? job.raw.withUnsafeBufferPointer { try self.challengerProbabilities(model, raw: $0, rows: job.rows) }
                    let nanoseconds = Self.cpuNanoseconds() - started
                    delta.calls.challenger += 1
                    guard let probabilities else {
                        delta.errors.challenger += 1
                        continue
                    }
                    delta.latency.challenger.record(nanoseconds: nanoseconds)
                    telemetry?.modelStep(role: .challenger, nanoseconds: nanoseconds)
                    let before = delta.disagreements
                    delta.compare(champion: job.champion, challenger: probabilities, threshold: threshold)
                    compared += job.rows
                    disagreements += delta.disagreements - before
                }
                if compared > 0 { telemetry?.challengerCompared(compared, disagreements: disagreements) }
                return delta
            }
            guard let counted else { continue }
            state.withLock { state in
                guard state.running?.experiment.version == version else { return }
                state.stats.merge(counted)
                state.dirty = true
            }
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// The calling thread's CPU time, in nanoseconds: what a model step is timed in, for both
    /// runs, so that a busy machine's scheduling (a thread preempted mid-step, the background
    /// thread's low priority) does not count as the model's time; a slower model does.
    static func cpuNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    // MARK: - Running

    func run() async throws {
        let tick = Duration.milliseconds(Int(settings.tickSeconds * 1000))
        let wake = self.wake
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: tick) } catch { return }
                        await self.tick()
                    }
                }
                group.addTask {
                    for await _ in self.wakeups {
                        if Task.isCancelled { break }
                        await self.drainShadow()
                    }
                }
                if let changes = self.fleetChanges {
                    group.addTask {
                        for await _ in changes {
                            if Task.isCancelled { break }
                            await self.sync(trigger: "notification")
                        }
                    }
                }
                await withTaskCancellationHandler {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                } onCancel: {
                    wake.finish()
                }
                group.cancelAll()
            }
        }
    }

    /// Every tick: follow the fleet's experiment, write this replica's counters, check the guard.
    func tick() async {
        if store.isShared { await sync(trigger: "poll") }
        await flush()
        await check()
        await followAlias()
    }

    /// Writes this replica's counters when they changed since the last write (a shared store).
    func flush() async {
        guard store.isShared else { return }
        guard let (version, stats) = state.withLock({ state -> (Int64, ChallengerStats)? in
            guard state.dirty, let version = state.statsVersion else { return nil }
            state.dirty = false
            return (version, state.stats)
        }) else { return }
        do {
            let document = String(decoding: try JSONEncoder().encode(stats), as: UTF8.self)
            try await store.writeExperimentCounters(version: version, replica: replicaId, counters: document)
        } catch {
            state.withLock { $0.dirty = true }
            if !Task.isCancelled { logger.warning("challenger: counters not written", metadata: ["error": "\(error)"]) }
        }
    }

    /// The counters of experiment `version`: this replica's, plus the other replicas' from a shared store.
    func totals(version: Int64) async throws -> ChallengerStats {
        let own = state.withLock { $0.statsVersion == version ? $0.stats : ChallengerStats() }
        guard store.isShared else { return own }
        await flush()
        var total = ChallengerStats()
        for document in try await store.experimentCounters(version: version) {
            if let stats = try? JSONDecoder().decode(ChallengerStats.self, from: Data(document.utf8)) { total.merge(stats) }
        }
        return total
    }

    /// Stops the experiment for the fleet when a guard rule fails.
    func check() async {
        guard let running else { return }
        let version = running.experiment.version
        let totals: ChallengerStats
        do {
            totals = try await self.totals(version: version)
        } catch {
            return
        }
        guard let reason = ChallengerGuard.failure(totals, rules: settings.rules) else { return }
        await stop(version: version, status: .stopped, reason: reason)
    }

    // MARK: - Changes

    /// Starts an experiment on `model` (loaded and checked) for the whole fleet.
    func start(model: HazardModel, reference: String, mode: Mode, percent: Int, sticky: String) async throws -> FleetExperiment {
        try await changes.withLock {
            let experiment = try await store.startExperiment(
                ExperimentStart(reference: reference, runId: model.runId, mode: mode.rawValue, percent: percent, sticky: sticky), by: replicaId)
            install(experiment, model: model)
            logger.notice(
                "challenger: experiment started",
                metadata: [
                    "version": "\(experiment.version)", "run_id": "\(model.runId)", "reference": "\(reference)", "mode": "\(mode.rawValue)",
                    "percent": "\(percent)",
                ])
            let share = mode == .canary ? "canary \(percent) %" : "shadow"
            await audit?.recordExperiment(model, event: "started", reason: "\(share) of \(reference), experiment \(experiment.version)")
            return experiment
        }
    }

    /// Ends experiment `version` for the fleet (`DELETE`, a promotion, the guard).
    @discardableResult
    func stop(version: Int64, status: FleetExperiment.Status, reason: String) async -> Bool {
        (try? await changes.withLock {
            let ended: FleetExperiment?
            do {
                ended = try await store.endExperiment(version: version, status: status, reason: reason)
            } catch {
                logger.error("challenger: the experiment's end could not be recorded", metadata: ["error": "\(error)"])
                return false
            }
            // Traffic stops at once; the status shows the end once the audit entry is written, so
            // whoever reads "stopped" finds it in the audit log too.
            let mine = state.withLock { state -> HazardModel? in
                guard let running = state.running, running.experiment.version == version else { return nil }
                state.running = nil
                state.queue = []
                state.queuedReadings = 0
                engaged.store(false, ordering: .relaxed)
                return running.model
            }
            defer { state.withLock { state in if state.running == nil { state.record = ended } } }
            // Ended here, now (not by another replica before): log it and write the audit entry.
            guard let ended, ended.version == version, ended.status == status, ended.reason == reason else { return mine != nil }
            if status == .stopped {
                logger.error(
                    "challenger: the guard stopped the experiment; the champion alone serves",
                    metadata: ["version": "\(version)", "reason": "\(reason)"])
            } else {
                logger.notice("challenger: experiment ended", metadata: ["version": "\(version)", "status": "\(status.rawValue)", "reason": "\(reason)"])
            }
            if let mine { await audit?.recordExperiment(mine, event: status.rawValue, reason: reason) }
            return true
        }) ?? false
    }

    /// Reads the fleet's experiment and follows it: loads a new one's challenger, drops an ended one.
    func sync(trigger: String) async {
        do {
            try await changes.withLock {
                guard let experiment = try await store.experiment() else { return }
                let current = state.withLock { $0.running?.experiment.version }
                if experiment.status != .running {
                    state.withLock { state in
                        if state.running?.experiment.version == experiment.version || state.running == nil {
                            if state.running != nil { logger.notice("challenger: the fleet's experiment ended", metadata: ["status": "\(experiment.status.rawValue)"]) }
                            state.running = nil
                            state.queue = []
                            state.queuedReadings = 0
                            engaged.store(false, ordering: .relaxed)
                        }
                        state.record = experiment
                    }
                    return
                }
                guard current != experiment.version else { return }
                let model = try await models.load(experiment.runId)
                install(experiment, model: model)
                logger.notice(
                    "challenger: now running the fleet's experiment",
                    metadata: ["version": "\(experiment.version)", "run_id": "\(experiment.runId)", "trigger": "\(trigger)"])
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("challenger: could not follow the fleet's experiment", metadata: ["trigger": "\(trigger)", "error": "\(error)"])
        }
    }

    /// Must run under `changes`.
    private func install(_ experiment: FleetExperiment, model: HazardModel) {
        state.withLock { state in
            state.running = Running(
                experiment: experiment, model: model, mode: Mode(rawValue: experiment.mode) ?? .shadow, percent: experiment.percent)
            state.record = experiment
            state.stats = ChallengerStats()
            state.statsVersion = experiment.version
            state.dirty = true
            state.queue = []
            state.queuedReadings = 0
        }
        engaged.store(true, ordering: .relaxed)
    }

    /// The experiment to describe (`GET /models/challenger`): the running one, else the last one
    /// if the guard stopped it; nil otherwise.
    var described: (experiment: FleetExperiment, model: HazardModel?)? {
        state.withLock { state in
            if let running = state.running { return (running.experiment, running.model) }
            if let record = state.record, record.status == .stopped { return (record, nil) }
            return nil
        }
    }
}
