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
    let state = Mutex(State())
    /// Set while an experiment runs: the request path reads only this when none does.
    let engaged = Atomic<Bool>(false)
    let wakeups: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation
    /// One change of experiment at a time (a start, a follow, an end).
    let changes = AsyncLock()
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

}
