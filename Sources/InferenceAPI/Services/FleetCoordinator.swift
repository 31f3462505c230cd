import Artifacts
import Foundation
import Logging
import Storage
import Synchronization

/// Keeps this replica serving the model the fleet recorded (`FleetStore`), and records a new one
/// for the whole fleet when an engineer activates one here.
///
/// The fleet's state is one row with a version counter. A replica follows it: on a notification,
/// on every (re)subscription, and every `FLEET_POLL_SECONDS` in case a notification was missed.
/// Following means loading the recorded run and swapping to it; a replica that cannot load it
/// keeps its model, reports itself diverged with the reason (`/ready` answers 503), and tries
/// again on the next poll. Replicas load the recorded run id, not the reference, so an alias
/// moved in between cannot split the fleet.
final class FleetCoordinator: Sendable {
    struct Identity: Sendable {
        let id: String
        let host: String
        let startedAt: Date
    }

    /// What this replica serves, next to what the fleet asked for.
    struct Status: Sendable {
        /// The fleet version this replica serves; 0 before it followed any.
        var servedVersion: Int64 = 0
        var fleet: FleetState?
        /// Why this replica does not serve the fleet's model; nil when it does.
        var diverged: String?
        /// Set by `start`: before it the schema may not exist yet, so there is nothing to follow.
        var started = false
    }

    let identity: Identity
    let store: any FleetStore
    let models: ModelService
    let logger: Logger
    /// Called with an asset whose anomaly model another replica changed, or nil for "maybe any".
    private let assetModelChanged: @Sendable (_ tenantId: String, _ assetId: String?) -> Void
    /// Called when the fleet's champion/challenger experiment may have changed.
    private let experimentChanged: @Sendable () -> Void
    private let status = Mutex(Status())
    /// One change of served model at a time (a publish, a follow).
    private let changes = AsyncLock()

    init(
        identity: Identity, store: any FleetStore, models: ModelService, logger: Logger,
        assetModelChanged: @escaping @Sendable (_ tenantId: String, _ assetId: String?) -> Void = { _, _ in },
        experimentChanged: @escaping @Sendable () -> Void = {}
    ) {
        self.experimentChanged = experimentChanged
        self.identity = identity
        self.store = store
        self.models = models
        self.logger = logger
        self.assetModelChanged = assetModelChanged
    }

    var snapshot: Status { status.withLock { $0 } }

    /// Ready unless diverged.
    var divergedReason: String? { status.withLock { $0.diverged } }

    /// Start-up, once the store is migrated: with a shared store the fleet's recorded model wins
    /// and `reference` (the configured one, already loaded as `model`) only seeds an empty fleet;
    /// with a local store this process is the whole fleet, so the configuration is the fleet's.
    ///
    /// When the store cannot answer, the configured model serves and the replica follows the fleet
    /// from the first poll on which the store answers (`sync` seeds an empty fleet then).
    func start(loaded model: HazardModel, reference: String) async {
        do {
            try await changes.withLock {
                let state: FleetState
                if store.isShared {
                    state = try await store.seed(reference: reference, runId: model.runId, by: identity.id, reason: "configured at start-up")
                } else {
                    state = try await store.publish(reference: reference, runId: model.runId, by: identity.id, reason: "start-up")
                }
                await follow(state, trigger: "start-up")
            }
        } catch {
            logger.error(
                "fleet: the fleet's state could not be read at start-up; serving the configured model until it can",
                metadata: ["error": "\(error)"])
        }
        status.withLock { $0.started = true }
        await beat()
    }

    /// Records `model` (loaded and checked here) as the fleet's, then serves it. Nothing changes
    /// when the store refuses: the caller's error says why.
    func publish(_ model: HazardModel, reference: String, reason: String) async throws -> FleetState {
        let state = try await changes.withLock {
            let state = try await store.publish(reference: reference, runId: model.runId, by: identity.id, reason: reason)
            models.install(model)
            status.withLock {
                $0.servedVersion = state.version
                $0.fleet = state
                $0.diverged = nil
            }
            return state
        }
        logger.notice("fleet: new model recorded", metadata: ["version": "\(state.version)", "run_id": "\(state.runId)", "reason": "\(reason)"])
        await beat()
        return state
    }

    /// Re-reads the fleet's state and follows it.
    func sync(trigger: String) async {
        guard status.withLock({ $0.started }) else { return }
        do {
            try await changes.withLock {
                if let state = try await store.state() {
                    await follow(state, trigger: trigger)
                } else if let model = models.active {
                    // Nothing recorded (the seed at start-up failed): this replica's model seeds it.
                    let state = try await store.seed(reference: model.runId, runId: model.runId, by: identity.id, reason: "seeded by \(trigger)")
                    await follow(state, trigger: trigger)
                }
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("fleet: could not read the fleet's state", metadata: ["trigger": "\(trigger)", "error": "\(error)"])
        }
    }

    func handle(_ event: FleetEvent) async {
        switch event {
        case .modelPublished:
            await sync(trigger: "notification")
        case .subscribed:
            // Whatever was announced while nobody listened is lost: read it back.
            assetModelChanged("", nil)
            experimentChanged()
            await sync(trigger: "subscribed")
        case .assetModelChanged(let tenantId, let assetId):
            assetModelChanged(tenantId, assetId)
        case .experimentChanged:
            experimentChanged()
        }
    }

    /// Must run under `changes`.
    private func follow(_ state: FleetState, trigger: String) async {
        let served = status.withLock { status -> Int64 in
            status.fleet = state
            return status.servedVersion
        }
        guard state.version > served else { return }
        if models.active?.runId == state.runId {
            status.withLock {
                $0.servedVersion = state.version
                $0.diverged = nil
            }
            return
        }
        let models = self.models
        do {
            let model = try await models.load(state.runId)
            models.install(model)
            status.withLock {
                $0.servedVersion = state.version
                $0.diverged = nil
            }
            logger.notice(
                "fleet: now serving the fleet's model",
                metadata: ["version": "\(state.version)", "run_id": "\(state.runId)", "trigger": "\(trigger)", "recorded_by": "\(state.updatedBy)"])
        } catch {
            let reason = "cannot load run \(state.runId) of fleet version \(state.version): \(error)"
            let first = status.withLock { status -> Bool in
                defer { status.diverged = reason }
                return status.diverged != reason
            }
            if first { logger.error("fleet: diverged, the previous model keeps serving and /ready answers 503", metadata: ["reason": "\(reason)"]) }
        }
        Task { await self.beat() }
    }

    /// Writes this replica's heartbeat; a failure is logged (the next beat tries again).
    /// The replicas that sent a heartbeat within `seenWithin` seconds (`GET /fleet`).
    func replicas(seenWithin seconds: Int) async throws -> [ReplicaRecord] {
        try await store.replicas(seenWithin: seconds)
    }

    /// Whether replicas share the fleet state (PostgreSQL) or this process holds it alone (SQLite).
    var isShared: Bool { store.isShared }

    func beat(leaving: Bool = false) async {
        let status = snapshot
        // Before `start` the schema may not exist yet.
        guard status.started else { return }
        let record = ReplicaRecord(
            replicaId: identity.id, host: identity.host, fleetVersion: status.servedVersion, runId: models.active?.runId,
            ready: !leaving && status.diverged == nil && models.active != nil, divergedReason: status.diverged, startedAt: identity.startedAt)
        do {
            try await store.beat(record)
        } catch {
            if Task.isCancelled { return }
            logger.warning("fleet: heartbeat not written", metadata: ["error": "\(error)"])
        }
    }

    /// `REPLICA_ID`, else `<host>-<pid>`: on Kubernetes the host name is the pod's name.
    static func identity(configured: String?) -> Identity {
        let host = ProcessInfo.processInfo.hostName
        return Identity(id: configured ?? "\(host)-\(ProcessInfo.processInfo.processIdentifier)", host: host, startedAt: Date())
    }
}
