import AnomalyDetection
import ComputeSupport
import EMSCore
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Storage
import Testing

extension EMSCoreIntegration {
    /// (f) `POST /anomaly/train` with `"source": "ems_core"`: EMS Core's paged metrics become stored
    /// samples (once each) and the same model as the same samples posted inline; EMS Core's failures
    /// are 502 or 504 naming its status.
    @Suite("Training from EMS Core", .serialized, .timeLimit(.minutes(5)))
    struct EMSTrainingTests {
        static let from = Date(timeIntervalSince1970: 1_796_000_000)

        static func history() -> [MetricSample] {
            (0..<1234).map { (i: Int) -> MetricSample in
                let cpu: Double = 30 + 10 * sin(Double(i) / 12) + Double(i % 7)
                let latency: Double = 20 + Double((i * 13) % 17)
                return MetricSample(timestamp: from.addingTimeInterval(Double(i) * 300), metrics: ["cpu": cpu, "latency_ms": latency])
            }
        }

        static func probe() -> [[String: Any]] {
            (0..<50).map { (i: Int) -> [String: Any] in
                let cpu: Double = i % 10 == 0 ? 95 : 35 + Double(i % 5)
                let latency: Double = 22 + Double(i % 3)
                let time = ISO8601.format(Date(timeIntervalSince1970: 1_797_000_000 + Double(i) * 300))
                return ["timestamp": time, "metrics": ["cpu": cpu, "latency_ms": latency]]
            }
        }

        static func body(_ object: [String: Any]) throws -> ByteBuffer { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)) }

        static func parameters() -> [String: Any] {
            ["asset_id": "gw-2", "metrics": ["cpu", "latency_ms"], "n_estimators": 50, "seed": 11, "window": 3]
        }

        struct Outcome: Sendable {
            let samples: Int?
            let threshold: Double?
            let scores: [Double]
        }

        /// Trains through `train` then scores the probe samples (not persisted).
        static func trainAndScore(_ client: some TestClientProtocol, _ train: [String: Any]) async throws -> Outcome {
            let trained = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: body(train))
            #expect(trained.status == .created, "\(String(buffer: trained.body).prefix(300))")
            let detect = try await client.execute(
                uri: "/anomaly/detect", method: .post, headers: EMSTestApp.json, body: body(["asset_id": "gw-2", "samples": probe(), "persist": false]))
            let results = EMSTestApp.object(detect)["results"] as? [[String: Any]] ?? []
            let answer = EMSTestApp.object(trained)
            return Outcome(
                samples: answer["n_samples"] as? Int, threshold: answer["score_threshold"] as? Double, scores: results.compactMap { $0["score"] as? Double })
        }

        @Test(arguments: EMSTestApp.backends)
        func testPagedMetricsTrainTheSameModelAsTheSameSamplesInline(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            let samples = Self.history()
            ems.state.withLock {
                $0.metrics["gw-2"] = samples
                $0.metricsPageSize = 100
            }
            let to = Self.from.addingTimeInterval(1234 * 300)
            let fromEMS = try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                return try await app.test(.live) { client in
                    var request = Self.parameters()
                    request["source"] = "ems_core"
                    request["from"] = ISO8601.format(Self.from)
                    request["to"] = ISO8601.format(to)
                    let first = try await Self.trainAndScore(client, request)
                    #expect(first.samples == 1234)
                    #expect(ems.state.withLock { $0.metricsPagesServed } == 13, "\(backend): 1234 samples in pages of 100")
                    // Again: the samples are stored once (deduplicated by timestamp).
                    _ = try await Self.trainAndScore(client, request)
                    let assets = EMSTestApp.object(try await client.execute(uri: "/anomaly/assets", method: .get))["assets"] as? [[String: Any]]
                    #expect(assets?.first?["samples"] as? Int == 1234, "\(backend): stored once, \(String(describing: assets))")
                    return first
                }
            }
            let inline = try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: nil, apply))
                return try await app.test(.live) { client in
                    let posted = samples.map { ["timestamp": ISO8601.format($0.timestamp), "metrics": $0.metrics] }
                    // The same stored history as the EMS Core path (detection reads it before the probe).
                    let stored = try await client.execute(
                        uri: "/anomaly/detect", method: .post, headers: EMSTestApp.json, body: Self.body(["asset_id": "gw-2", "samples": posted]))
                    #expect(stored.status == .ok)
                    var request = Self.parameters()
                    request["samples"] = posted
                    return try await Self.trainAndScore(client, request)
                }
            }
            #expect(fromEMS.scores.count == 50 && fromEMS.scores == inline.scores, "\(backend): the same model scores alike: \(fromEMS.scores.prefix(5)) vs \(inline.scores.prefix(5))")
            #expect(fromEMS.threshold != nil && fromEMS.threshold == inline.threshold)
        }

        @Test func testEMSCoreFailuresAre502Or504NamingItsStatus() async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(.sqlite) { apply in
                let configuration = EMSTestApp.configuration(ems: ems) { c in
                    apply(&c)
                    c.emsCore?.timeout = 0.5
                }
                let app = try await buildApplication(configuration: configuration)
                try await app.test(.live) { client in
                    var request = Self.parameters()
                    request["source"] = "ems_core"
                    request["from"] = ISO8601.format(Self.from)
                    request["to"] = ISO8601.format(Self.from.addingTimeInterval(86_400))
                    ems.faults { $0.metricsStatus = 503 }
                    let unavailable = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: Self.body(request))
                    #expect(unavailable.status == .badGateway)
                    let envelope = EMSTestApp.object(unavailable)["error"] as? [String: Any]
                    #expect(envelope?["code"] as? String == "ems_core_error" && (envelope?["message"] as? String)?.contains("503") == true)
                    ems.faults {
                        $0.metricsStatus = nil
                        $0.metricsDelay = .seconds(2)
                    }
                    let slow = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: Self.body(request))
                    #expect(slow.status == .gatewayTimeout)
                    #expect((EMSTestApp.object(slow)["error"] as? [String: Any])?["code"] as? String == "ems_core_timeout")
                    ems.faults { $0.metricsDelay = .zero }
                    var bad = request
                    bad["samples"] = [["timestamp": ISO8601.format(Self.from), "metrics": ["cpu": 1, "latency_ms": 1]]]
                    let both = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: Self.body(bad))
                    #expect(both.status == .badRequest)
                    let empty = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: Self.body(request))
                    #expect(empty.status == .unprocessableContent, "no samples in range: not enough to train")
                }
            }
            // Without EMS_CORE_URL the source is refused as the client's mistake.
            let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: nil) { $0.sqlitePath = ":memory:" })
            try await app.test(.router) { client in
                var request = Self.parameters()
                request["source"] = "ems_core"
                request["from"] = ISO8601.format(Self.from)
                request["to"] = ISO8601.format(Self.from.addingTimeInterval(3600))
                let off = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: Self.body(request))
                #expect(off.status == .unprocessableContent)
            }
        }
    }
}
