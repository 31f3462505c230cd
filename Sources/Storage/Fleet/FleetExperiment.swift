import Foundation

/// The fleet's champion/challenger experiment: one row every replica follows, like `FleetState`.
/// Each start makes a new `version`; counters are kept per version and replica, so a restarted
/// experiment starts from zero and a replica's counters are never counted twice.
public struct FleetExperiment: Sendable, Equatable {
    public enum Status: String, Sendable {
        case running
        /// Ended by an engineer (`DELETE /models/challenger`).
        case ended
        /// Stopped by the guard: `reason` says which rule.
        case stopped
        /// The challenger became the served run.
        case promoted
    }

    public var version: Int64
    /// What was asked for (a run id, `runs:/…`, `models:/<name>@challenger`).
    public var reference: String
    /// The run the reference resolved to when the experiment started: every replica loads this.
    public var runId: String
    /// `shadow` or `canary`.
    public var mode: String
    /// Canary: the share of modules routed to the challenger, 0-100.
    public var percent: Int
    /// The reading field a canary routes by (`module_id`).
    public var sticky: String
    public var status: Status
    /// Why it stopped or ended; nil while running.
    public var reason: String?
    public var startedBy: String
    public var startedAt: Date
    public var endedAt: Date?

    public init(
        version: Int64, reference: String, runId: String, mode: String, percent: Int, sticky: String, status: Status, reason: String?,
        startedBy: String, startedAt: Date, endedAt: Date?
    ) {
        self.version = version
        self.reference = reference
        self.runId = runId
        self.mode = mode
        self.percent = percent
        self.sticky = sticky
        self.status = status
        self.reason = reason
        self.startedBy = startedBy
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

/// What `startExperiment` records.
public struct ExperimentStart: Sendable, Equatable {
    public var reference: String
    public var runId: String
    public var mode: String
    public var percent: Int
    public var sticky: String

    public init(reference: String, runId: String, mode: String, percent: Int, sticky: String) {
        self.reference = reference
        self.runId = runId
        self.mode = mode
        self.percent = percent
        self.sticky = sticky
    }
}
