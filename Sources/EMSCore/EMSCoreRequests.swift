import AnomalyDetection
import Foundation

/// The JSON bodies this service sends EMS Core (the README lists them).
public enum EMSCoreRequests {
    /// The path and body for one outbox message.
    public static func body(for message: OutboxMessage) -> (path: String, body: [UInt8]) {
        let episode = (try? JSONSerialization.jsonObject(with: Data(message.payload.utf8))) as? [String: Any] ?? [:]
        let severity = episode["severity"] as? String ?? "warning"
        let metric = episode["metric"] as? String ?? "all"
        let peak = episode["peak_score"] as? Double ?? 0
        let kind = episode["kind"] as? String ?? "anomaly"
        let when: String
        switch message.change {
        case .open: when = episode["started_at"] as? String ?? ""
        case .escalate: when = episode["last_anomaly_at"] as? String ?? ""
        case .close: when = episode["ended_at"] as? String ?? ""
        }
        let verb = ["open": "opened", "escalate": "escalated to critical", "close": "closed"][message.change.rawValue] ?? message.change.rawValue
        let title = "\(kind == "hazard" ? "Hazard" : "Anomaly") episode \(verb) on \(message.assetId)"
        let description = "\(title): peak score \(String(format: "%.3f", peak)) on \(metric)"
        let fields: [String: Any]
        switch message.target {
        case .event:
            fields = [
                "idempotencyKey": message.idempotencyKey, "assetId": message.assetId, "type": "\(kind).episode.\(message.change.rawValue)",
                "severity": severity, "occurredAt": when, "source": "battery-inference", "message": description, "episode": episode,
            ]
        case .alert:
            fields = [
                "idempotencyKey": message.idempotencyKey, "assetId": message.assetId, "severity": severity, "title": title,
                "description": description, "raisedAt": when, "source": "battery-inference", "episodeId": message.episodeId, "metric": metric,
                "peakScore": peak,
            ]
        }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return (message.target == .event ? "/api/events" : "/api/alerts", Array(data))
    }
}
