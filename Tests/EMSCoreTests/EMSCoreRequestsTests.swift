import AnomalyDetection
import EMSCore
import Foundation
import Storage
import Testing

/// The bodies sent to EMS Core carry the episode's numbers exactly: the payload was once read
/// back with `JSONSerialization`, which on Linux reads 0.9065155807365439 as ...443, so an alert's
/// `peakScore` and its event's `peak_score` disagreed in the last digits.
@Suite("EMS Core request bodies")
struct EMSCoreRequestsTests {
    struct Alert: Decodable { let peakScore: Double }
    struct Event: Decodable {
        struct Inner: Decodable {
            let peak_score: Double
            let anomalous_samples: Int
        }
        let episode: Inner
    }

    @Test(arguments: [0.9065155807365439, 0.12345678901234566, 1.0, 0.7024317302431702])
    func testPeakScoresAreSentExactly(peak: Double) throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let episode = Episode(
            id: "ep_1", tenantId: "default", assetId: "router-1", kind: "anomaly", state: .open, severity: .critical, metric: "cpu",
            peakScore: peak, startedAt: start, lastAnomalyAt: start, anomalousSamples: 7)
        for target in OutboxMessage.Target.allCases {
            let message = OutboxMessage(
                tenantId: "default", episodeId: "ep_1", assetId: "router-1", target: target, change: .open, idempotencyKey: "k",
                payload: OutboxMessage.payload(episode), nextAttemptAt: start, createdAt: start)
            let (path, body) = EMSCoreRequests.body(for: message)
            switch target {
            case .alert:
                #expect(path == "/api/alerts")
                #expect(try JSONDecoder().decode(Alert.self, from: Data(body)).peakScore == peak)
            case .event:
                #expect(path == "/api/events")
                let sent = try JSONDecoder().decode(Event.self, from: Data(body)).episode
                #expect(sent.peak_score == peak && sent.anomalous_samples == 7)
            }
        }
    }
}
