import ComputeSupport
import EMSCore
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Storage
import Testing

extension EMSCoreIntegration {
    /// Metric names from EMS Core are held to the rule inline samples are (`MetricName`): a page
    /// naming a metric `<img src=x onerror=...>`, `x"y` or 5,000 characters long refuses the
    /// import (502 naming the page), and nothing of it is stored.
    @Suite("Metric names from EMS Core", .serialized, .timeLimit(.minutes(5)))
    struct EMSMetricNameTests {
        static let from = Date(timeIntervalSince1970: 1_796_000_000)

        static func history(extra name: String?) -> [MetricSample] {
            (0..<150).map { (i: Int) -> MetricSample in
                var metrics = ["cpu": 30 + Double(i % 9), "latency_ms": 20 + Double(i % 5)]
                if let name, i == 120 { metrics[name] = 1 }
                return MetricSample(timestamp: from.addingTimeInterval(Double(i) * 300), metrics: metrics)
            }
        }

        @Test(arguments: EMSTestApp.backends)
        func testEMSCoreMetricNamesAreValidatedLikeInlineOnes(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            let bad = ["<img src=x onerror=alert(1)>", "x\"y", String(repeating: "m", count: 5000), "", "caf\u{e9}", "a b"]
            try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                try await app.test(.live) { client in
                    for (k, name) in bad.enumerated() {
                        let asset = "gw-bad-\(k)"
                        ems.state.withLock {
                            $0.metrics[asset] = Self.history(extra: name)
                            $0.metricsPageSize = 100
                        }
                        let request: [String: Any] = [
                            "asset_id": asset, "metrics": ["cpu", "latency_ms"], "source": "ems_core", "from": ISO8601.format(Self.from),
                            "to": ISO8601.format(Self.from.addingTimeInterval(86_400)),
                        ]
                        let trained = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: EMSTrainingTests.body(request))
                        #expect(trained.status == .badGateway, "\(backend) \(name.prefix(30)): \(String(buffer: trained.body).prefix(300))")
                        let error = EMSTestApp.object(trained)["error"] as? [String: Any]
                        let message = error?["message"] as? String ?? ""
                        #expect(error?["code"] as? String == "ems_core_error" && message.contains("page 2") && message.contains("metric name"), "\(message)")
                        #expect(!message.contains("<") && !message.contains("\"") && message.utf8.count < 300, "the name is not echoed as sent: \(message)")
                        // The same name inline is refused too (400), so both sources agree.
                        let inline = try await client.execute(
                            uri: "/anomaly/detect", method: .post, headers: EMSTestApp.json,
                            body: EMSTrainingTests.body(["asset_id": asset, "samples": [["timestamp": ISO8601.format(Self.from), "metrics": [name: 1]]]]))
                        #expect(inline.status == .badRequest, "\(backend) inline \(name.prefix(30))")
                    }
                    let assets = EMSTestApp.object(try await client.execute(uri: "/anomaly/assets", method: .get))["assets"] as? [[String: Any]]
                    #expect(assets?.isEmpty == true, "\(backend): nothing stored from a refused import: \(String(describing: assets))")

                    // A clean page set still trains.
                    ems.state.withLock { $0.metrics["gw-good"] = Self.history(extra: "battery.temp_c-2") }
                    let good: [String: Any] = [
                        "asset_id": "gw-good", "metrics": ["cpu", "latency_ms"], "source": "ems_core", "from": ISO8601.format(Self.from),
                        "to": ISO8601.format(Self.from.addingTimeInterval(86_400)),
                    ]
                    let trained = try await client.execute(uri: "/anomaly/train", method: .post, headers: EMSTestApp.json, body: EMSTrainingTests.body(good))
                    #expect(trained.status == .created, "\(String(buffer: trained.body).prefix(300))")
                }
            }
        }
    }
}
