import Foundation

/// The hazard model the whole fleet serves: one row with a version counter that only grows.
public struct FleetState: Sendable, Equatable {
    /// What was asked for (a run id or `models:/<name>@<alias>`).
    public var reference: String
    /// The run the reference resolved to when it was recorded.
    public var runId: String
    public var version: Int64
    /// The replica that recorded it.
    public var updatedBy: String
    public var reason: String
    public var updatedAt: Date

    public init(reference: String, runId: String, version: Int64, updatedBy: String, reason: String, updatedAt: Date) {
        self.reference = reference
        self.runId = runId
        self.version = version
        self.updatedBy = updatedBy
        self.reason = reason
        self.updatedAt = updatedAt
    }
}

/// One replica's heartbeat.
public struct ReplicaRecord: Sendable, Equatable {
    public var replicaId: String
    public var host: String
    /// The fleet version this replica serves (lower than the fleet's while it catches up or diverges).
    public var fleetVersion: Int64
    public var runId: String?
    public var ready: Bool
    public var divergedReason: String?
    public var startedAt: Date
    /// Set by the store (the database's clock, so replicas' clocks do not matter).
    public var lastSeen: Date?

    public init(
        replicaId: String, host: String, fleetVersion: Int64, runId: String?, ready: Bool, divergedReason: String?, startedAt: Date,
        lastSeen: Date? = nil
    ) {
        self.replicaId = replicaId
        self.host = host
        self.fleetVersion = fleetVersion
        self.runId = runId
        self.ready = ready
        self.divergedReason = divergedReason
        self.startedAt = startedAt
        self.lastSeen = lastSeen
    }
}

/// What another replica announced.
public enum FleetEvent: Sendable, Equatable {
    /// The fleet's model changed (to `version` or later: read the state).
    case modelPublished(version: Int64)
    /// An asset's anomaly model was trained or retired.
    case assetModelChanged(tenantId: String, assetId: String)
    /// The experiment changed (started, ended): read it.
    case experimentChanged
    /// The subscription was (re)established: anything may have been missed before it.
    case subscribed
}

/// The fleet's shared serving state and the channel replicas hear each other on.
///
/// PostgreSQL: one row every replica reads, `NOTIFY` on a change, `LISTEN` to hear it. SQLite and
/// memory: the same calls, local to the process (`isShared` false), and nothing to hear.
public protocol FleetStore: Sendable {
    /// Whether other processes see this state (PostgreSQL), or it is this process's own.
    var isShared: Bool { get }

    /// The recorded state; nil before anything was recorded.
    func state() async throws -> FleetState?

    /// Records `reference` unless a state is recorded already; returns the recorded state.
    func seed(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState

    /// Records `reference` as the fleet's, one version up, and tells every replica, in one
    /// transaction. Returns the new state.
    func publish(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState

    /// Upserts this replica's heartbeat.
    func beat(_ replica: ReplicaRecord) async throws

    /// Replicas seen within `seconds`, by id.
    func replicas(seenWithin seconds: Int) async throws -> [ReplicaRecord]

    /// The experiment last started (running or not); nil before any.
    func experiment() async throws -> FleetExperiment?

    /// Starts an experiment, one version up, replacing a running one, and tells every replica.
    func startExperiment(_ start: ExperimentStart, by replica: String) async throws -> FleetExperiment

    /// Ends experiment `version` if it still runs (a later one, or one already ended, is left as
    /// it is) and tells every replica. Returns the row as it is afterwards; nil when none exists.
    func endExperiment(version: Int64, status: FleetExperiment.Status, reason: String) async throws -> FleetExperiment?

    /// Upserts this replica's counters for experiment `version` (an opaque JSON document).
    func writeExperimentCounters(version: Int64, replica: String, counters: String) async throws

    /// Every replica's counters for experiment `version`.
    func experimentCounters(version: Int64) async throws -> [String]

    /// Runs until the task is cancelled, handing every event to `handler`; re-subscribes after a
    /// lost connection and sends `.subscribed` each time it (re)subscribes.
    func listen(_ handler: @escaping @Sendable (FleetEvent) async -> Void) async throws
}

/// The channel and payloads of the fleet's notifications (PostgreSQL `NOTIFY`).
public enum FleetChannel {
    public static let name = "inference_fleet"

    static func modelPayload(version: Int64) -> String { "model \(version)" }

    static let experimentPayload = "experiment"

    static func assetPayload(tenantId: String, assetId: String) -> String {
        // JSON, so any asset id survives; the prefix keeps the model case cheap to parse.
        let data = (try? JSONSerialization.data(withJSONObject: [tenantId, assetId])) ?? Data("[]".utf8)
        return "asset " + String(decoding: data, as: UTF8.self)
    }

    static func event(_ payload: String) -> FleetEvent? {
        if payload.hasPrefix("model "), let version = Int64(payload.dropFirst(6)) { return .modelPublished(version: version) }
        if payload == experimentPayload { return .experimentChanged }
        if payload.hasPrefix("asset "),
            let pair = try? JSONSerialization.jsonObject(with: Data(payload.dropFirst(6).utf8)) as? [String], pair.count == 2
        {
            return .assetModelChanged(tenantId: pair[0], assetId: pair[1])
        }
        return nil
    }
}
