import AnomalyDetection
import ComputeSupport
import Foundation

/// One row of `ems_outbox`: an episode change to tell EMS Core, written in the transaction that
/// wrote the scores behind it, so it exists exactly when they do.
public struct OutboxMessage: Sendable, Equatable {
    /// `event` (every change) or `alert` (opening, escalation).
    public enum Target: String, Sendable, Equatable, CaseIterable {
        case event, alert
    }

    /// `pending` until EMS Core takes it (`delivered`) or refuses it for good (`parked`).
    public enum State: String, Sendable, Equatable, CaseIterable {
        case pending, delivered, parked
    }

    public var id: Int64?
    public var tenantId: String
    public var episodeId: String
    public var assetId: String
    public var target: Target
    public var change: EpisodeChange
    /// `<episode id>:<change>:<target>`: the same on every attempt, from any replica.
    public var idempotencyKey: String
    /// The episode as it stood after the change (`OutboxMessage.payload(_:)`), JSON text.
    public var payload: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    public init(
        id: Int64? = nil, tenantId: String, episodeId: String, assetId: String, target: Target, change: EpisodeChange, idempotencyKey: String,
        payload: String, state: State = .pending, attempts: Int = 0, nextAttemptAt: Date, lastError: String? = nil, createdAt: Date,
        deliveredAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.episodeId = episodeId
        self.assetId = assetId
        self.target = target
        self.change = change
        self.idempotencyKey = idempotencyKey
        self.payload = payload
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }

    public static func idempotencyKey(episodeId: String, change: EpisodeChange, target: Target) -> String {
        "\(episodeId):\(change.rawValue):\(target.rawValue)"
    }

    /// The rows for a batch's changes, in order: an event for each, and an alert after the event
    /// of an opening or an escalation.
    public static func messages(for events: [EpisodeEvent], now: Date) -> [OutboxMessage] {
        var out: [OutboxMessage] = []
        for event in events {
            let targets: [Target] = event.change.raisesAlert ? [.event, .alert] : [.event]
            for target in targets {
                out.append(
                    OutboxMessage(
                        tenantId: event.episode.tenantId, episodeId: event.episode.id, assetId: event.episode.assetId, target: target,
                        change: event.change, idempotencyKey: idempotencyKey(episodeId: event.episode.id, change: event.change, target: target),
                        payload: payload(event.episode), nextAttemptAt: now, createdAt: now))
            }
        }
        return out
    }

    /// The episode as JSON: what the deliverer turns into EMS Core's request bodies.
    public static func payload(_ e: Episode) -> String {
        var fields: [String: Any] = [
            "episode_id": e.id, "tenant_id": e.tenantId, "asset_id": e.assetId, "kind": e.kind, "state": e.state.rawValue,
            "severity": e.severity.rawValue, "metric": e.metric, "peak_score": e.peakScore,
            "started_at": ISO8601.format(e.startedAt), "last_anomaly_at": ISO8601.format(e.lastAnomalyAt),
            "anomalous_samples": e.anomalousSamples,
        ]
        if let ended = e.endedAt { fields["ended_at"] = ISO8601.format(ended) }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Counts of `ems_outbox` rows by state, and the age of the oldest pending one.
public struct OutboxCounts: Sendable, Equatable {
    public var pending: Int
    public var delivered: Int
    public var parked: Int
    public var oldestPending: Date?

    public init(pending: Int = 0, delivered: Int = 0, parked: Int = 0, oldestPending: Date? = nil) {
        self.pending = pending
        self.delivered = delivered
        self.parked = parked
        self.oldestPending = oldestPending
    }
}
