import AnomalyDetection
import Foundation
import Storage
import Testing

/// The outbox rows a batch's episode changes become (written in the transaction of the scores).
@Suite("Outbox messages")
struct OutboxMessageTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let policy = EpisodePolicy(minSamples: 2, clearSamples: 5, criticalScore: 0.9)

    @Test func testOutboxRowsAreAnEventPerChangeAndAnAlertForOpeningAndEscalation() {
        var tracker = EpisodeTracker()
        var n = 0
        let observations = "aac.....".enumerated().map { i, c in
            EpisodeObservation(
                timestamp: Self.t0.addingTimeInterval(Double(i) * 60), score: c == "." ? 0.2 : c == "a" ? 0.7 : 0.95, isAnomaly: c != ".",
                metric: c == "c" ? "latency" : "cpu")
        }
        let outcome = tracker.advance(observations, tenantId: "t", assetId: "a", kind: "anomaly", policy: Self.policy) {
            n += 1
            return "ep_\(n)"
        }
        let messages = OutboxMessage.messages(for: outcome.events, now: Self.t0)
        #expect(messages.map { "\($0.change.rawValue)/\($0.target.rawValue)" } == ["open/event", "open/alert", "escalate/event", "escalate/alert", "close/event"])
        #expect(Set(messages.map(\.idempotencyKey)).count == messages.count)
        #expect(messages[0].idempotencyKey == "ep_1:open:event")
        let payload = try! JSONSerialization.jsonObject(with: Data(messages[4].payload.utf8)) as! [String: Any]
        #expect(payload["state"] as? String == "closed" && payload["severity"] as? String == "critical" && payload["ended_at"] != nil)
    }
}
