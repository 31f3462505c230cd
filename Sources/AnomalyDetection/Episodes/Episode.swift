import Foundation

/// When runs of anomalous samples become episodes (`ALERT_MIN_SAMPLES`, `ALERT_CLEAR_SAMPLES`,
/// `ALERT_CRITICAL_SCORE`).
public struct EpisodePolicy: Sendable, Equatable {
    /// Anomalous samples in a row that open an episode.
    public var minSamples: Int
    /// Normal samples in a row that close an open episode.
    public var clearSamples: Int
    /// A peak score at or above this makes the episode `critical` (else `warning`).
    public var criticalScore: Double
    /// Whether changes also write `ems_outbox` rows (off when EMS Core is not configured: the
    /// episodes are recorded, nothing queues up).
    public var outbox: Bool

    public init(minSamples: Int = 2, clearSamples: Int = 5, criticalScore: Double = 0.9, outbox: Bool = true) {
        self.minSamples = minSamples
        self.clearSamples = clearSamples
        self.criticalScore = criticalScore
        self.outbox = outbox
    }

    func severity(_ peak: Double) -> Episode.Severity { peak >= criticalScore ? .critical : .warning }
}

/// One row of `anomaly_episodes`: a run of anomalous samples of an asset (`kind` `anomaly`), or of
/// a battery module's hazard probabilities (`kind` `hazard`).
public struct Episode: Sendable, Equatable {
    public enum Severity: String, Sendable, Equatable, Comparable {
        case warning, critical
        public static func < (a: Severity, b: Severity) -> Bool { a == .warning && b == .critical }
    }

    public enum State: String, Sendable, Equatable {
        case open, closed
    }

    /// `ep_` and 32 hex digits: made when the episode opens, the root of its idempotency keys.
    public var id: String
    public var tenantId: String
    public var assetId: String
    public var kind: String
    public var state: State
    public var severity: Severity
    /// The metric of the highest-scoring sample (`all` when the detector named none).
    public var metric: String
    public var peakScore: Double
    /// The first anomalous sample of the run that opened it.
    public var startedAt: Date
    public var lastAnomalyAt: Date
    /// The timestamp of the sample that closed it.
    public var endedAt: Date?
    public var anomalousSamples: Int
    /// Normal samples in a row since the last anomalous one.
    public var normalRun: Int

    public init(
        id: String, tenantId: String, assetId: String, kind: String, state: State, severity: Severity, metric: String, peakScore: Double,
        startedAt: Date, lastAnomalyAt: Date, endedAt: Date? = nil, anomalousSamples: Int, normalRun: Int = 0
    ) {
        self.id = id
        self.tenantId = tenantId
        self.assetId = assetId
        self.kind = kind
        self.state = state
        self.severity = severity
        self.metric = metric
        self.peakScore = peakScore
        self.startedAt = startedAt
        self.lastAnomalyAt = lastAnomalyAt
        self.endedAt = endedAt
        self.anomalousSamples = anomalousSamples
        self.normalRun = normalRun
    }

    /// A fresh episode id.
    public static func newId() -> String {
        "ep_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }
}

/// What happened to an episode: each change is one event for EMS Core; `open` and `escalate`
/// are also alerts.
public enum EpisodeChange: String, Sendable, Equatable, CaseIterable {
    case open, escalate, close

    /// Whether EMS Core also gets an alert for it.
    public var raisesAlert: Bool { self != .close }
}

/// A change with the episode as it stood right after it.
public struct EpisodeEvent: Sendable, Equatable {
    public var change: EpisodeChange
    public var episode: Episode

    public init(change: EpisodeChange, episode: Episode) {
        self.change = change
        self.episode = episode
    }
}

/// One scored sample, as the episode tracker sees it.
public struct EpisodeObservation: Sendable, Equatable {
    public var timestamp: Date
    public var score: Double
    public var isAnomaly: Bool
    public var metric: String

    public init(timestamp: Date, score: Double, isAnomaly: Bool, metric: String) {
        self.timestamp = timestamp
        self.score = score
        self.isAnomaly = isAnomaly
        self.metric = metric
    }
}
