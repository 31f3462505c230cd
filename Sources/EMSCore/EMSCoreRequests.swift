import Foundation
import Storage

/// The JSON bodies this service sends EMS Core (the README lists them).
public enum EMSCoreRequests {
    /// The path and body for one outbox message.
    public static func body(for message: OutboxMessage) -> (path: String, body: [UInt8]) {
        let episode = ExactValue.object(message.payload)
        let severity = episode["severity"] as? String ?? "warning"
        let metric = episode["metric"] as? String ?? "all"
        let peak = episode["peak_score"] as? Double ?? (episode["peak_score"] as? Int).map(Double.init) ?? 0
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

/// A JSON value read with `JSONDecoder`, which reads numbers exactly; `JSONSerialization` on Linux
/// reads some doubles wrong in their last digits, and an alert's `peakScore` once differed from
/// its event's episode in the 16th digit. Rare calls (one per delivered message), so no faster
/// reader is needed.
private enum ExactValue: Decodable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([ExactValue]), object([String: ExactValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let v = try? container.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? container.decode(Int.self) {
            self = .int(v)
        } else if let v = try? container.decode(Double.self) {
            self = .double(v)
        } else if let v = try? container.decode(String.self) {
            self = .string(v)
        } else if let v = try? container.decode([ExactValue].self) {
            self = .array(v)
        } else {
            self = .object(try container.decode([String: ExactValue].self))
        }
    }

    /// What `JSONSerialization` writes back (exactly: its writing is not the lossy part).
    var foundation: Any {
        switch self {
        case .null: NSNull()
        case .bool(let v): v
        case .int(let v): v
        case .double(let v): v
        case .string(let v): v
        case .array(let v): v.map(\.foundation)
        case .object(let v): v.mapValues(\.foundation)
        }
    }

    /// The payload's object, or an empty one when it is not a JSON object.
    static func object(_ text: String) -> [String: Any] {
        guard case .object(let fields)? = try? JSONDecoder().decode(ExactValue.self, from: Data(text.utf8)) else { return [:] }
        return fields.mapValues(\.foundation)
    }
}

