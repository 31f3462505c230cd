import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// The operator's page and the API docs in a real browser: Debian's Chromium, driven by Selenium
/// (Tests/Browser/check_pages.py, its pinned virtualenv made by `make test`), against a live
/// server seeded here. The script checks what a person sees; this test gives it the truth from
/// the API (how many anomalies each asset has stored) and checks its findings.
@Suite("Web page in a browser")
struct WebPageBrowserTests {
    static let python = ProcessInfo.processInfo.environment["BROWSER_PYTHON"]
        ?? TestApp.repoRoot.appendingPathComponent("Tests/Browser/.venv/bin/python").path

    /// 200 five-minute samples ending now, with spikes at `spikes`.
    static func series(spikes: Set<Int>, seed: UInt64) -> [[String: Any]] {
        var random = SplitMix64(seed: seed)
        func normal() -> Double {
            sqrt(-2 * log(Double.random(in: Double.ulpOfOne..<1, using: &random))) * cos(2 * .pi * Double.random(in: 0..<1, using: &random))
        }
        let now = Date().timeIntervalSince1970.rounded(.down)
        return (0..<200).map { i in
            var cpu = 40 + 5 * sin(Double(i) / 10) + normal()
            var latency = 20 + normal() / 2
            if spikes.contains(i) {
                cpu += 60
                latency += 40
            }
            let time = Date(timeIntervalSince1970: now - Double(200 - i) * 300)
            return ["timestamp": ModelInfo.timestamp(time), "metrics": ["cpu_pct": cpu, "latency_ms": latency]]
        }
    }

    @Test(.timeLimit(.minutes(5))) func testPagesInChromium() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "no browser virtualenv at \(Self.python): run `make test`")
        let screenshots = FileManager.default.temporaryDirectory.appendingPathComponent("inference-api-screenshots-\(UUID().uuidString.prefix(8))")
        // The shadow at normal priority: under SCHED_IDLE a machine busy with other suites starves it.
        let app = try await buildApplication(configuration: try SecuredApp.configuration { $0.challengerShadowAtNormalPriority = true })
        // And one in development mode (no credentials configured), which opens on the dashboard.
        let development = try await buildApplication(configuration: TestApp.configuration())
        try await development.test(.live) { developmentClient in
            let developmentPort = try #require(developmentClient.port)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                var expected: [String: Int] = [:]
                for (asset, spikes) in [("router-1", Set([60, 61, 120, 170])), ("switch-2", Set([90, 150]))] {
                    let body = try JSONSerialization.data(withJSONObject: ["asset_id": asset, "samples": Self.series(spikes: spikes, seed: UInt64(spikes.count))])
                    let detect = try await client.execute(
                        uri: "/anomaly/detect", method: .post, headers: SecuredApp.Key.anomalyWriter.headers, body: ByteBuffer(bytes: body))
                    #expect(detect.status == .ok)
                    let stored = try await client.execute(
                        uri: "/anomaly/scores/\(asset)?anomalies_only=true&limit=10000", method: .get, headers: SecuredApp.Key.anomalyReader.headers)
                    let answer = try JSONSerialization.jsonObject(with: Data(buffer: stored.body)) as? [String: Any]
                    expected[asset] = try #require(answer?["count"] as? Int)
                }
                #expect(expected.filter { $0.key != "forecast-3" }.values.allSatisfy { $0 > 0 }, "the seeded spikes are flagged: \(expected)")
                // Three days of a growing cpu_pct for the forecast band: its limit is passed within the day.
                let now = Date().timeIntervalSince1970.rounded(.down)
                let long: [[String: Any]] = (0..<864).map { i in
                    let cpu = 30 + 10 * Double(i) / 288 + 5 * sin(2 * .pi * Double(i % 288) / 288)
                    return ["timestamp": ModelInfo.timestamp(Date(timeIntervalSince1970: now - Double(864 - i) * 300)), "metrics": ["cpu_pct": cpu, "latency_ms": 20.0]]
                }
                let seeded = try await client.execute(
                    uri: "/anomaly/detect", method: .post, headers: SecuredApp.Key.anomalyWriter.headers,
                    body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["asset_id": "forecast-3", "samples": long])))
                #expect(seeded.status == .ok)
                let flaggedLong = try await client.execute(
                    uri: "/anomaly/scores/forecast-3?anomalies_only=true&limit=10000", method: .get, headers: SecuredApp.Key.anomalyReader.headers)
                expected["forecast-3"] = try #require((try JSONSerialization.jsonObject(with: Data(buffer: flaggedLong.body)) as? [String: Any])?["count"] as? Int)
                let vector = try TestApp.servedVector()
                let predictBody = String(decoding: try JSONSerialization.data(withJSONObject: ["readings": Array(vector.readings.prefix(2))]), as: UTF8.self)
                // A shadow experiment that compared 6 readings, for the champion/challenger card.
                let baseline = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != vector.run_id })
                let started = try await client.execute(
                    uri: "/models/challenger", method: .post, headers: SecuredApp.Key.fleetAdmin.headers,
                    body: ByteBuffer(string: "{\"run_id\": \"\(baseline.run_id)\"}"))
                #expect(started.status == .created)
                for _ in 0..<3 {
                    _ = try await client.execute(uri: "/predict", method: .post, headers: SecuredApp.Key.predict.headers, body: ByteBuffer(string: predictBody))
                }
                var compared = -1
                for _ in 0..<100 where compared != 6 {
                    let status = try await client.execute(uri: "/models/challenger", method: .get, headers: SecuredApp.Key.fleetAdmin.headers)
                    compared = (try JSONSerialization.jsonObject(with: Data(buffer: status.body)) as? [String: Any])?["compared"] as? Int ?? -1
                    if compared != 6 { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(compared == 6)

                let finished = try await PythonScript.run(
                    python: Self.python, script: "Tests/Browser/check_pages.py",
                    arguments: [
                        "--base", "http://127.0.0.1:\(port)",
                        "--username", SecuredApp.operatorName, "--password", SecuredApp.operatorPassword, "--key", SecuredApp.Key.predict.rawValue,
                        "--expect", String(decoding: try JSONSerialization.data(withJSONObject: expected), as: UTF8.self),
                        "--predict-body", predictBody, "--screenshots", screenshots.path, "--challenger-compared", String(compared), "--forecast-asset", "forecast-3", "--forecast-metric", "cpu_pct",
                        "--forecast-threshold", "62", "--dev-base", "http://127.0.0.1:\(developmentPort)",
                    ])

                print("browser check screenshots: \(screenshots.path)")
                print("browser check findings: \(finished.output.split(separator: "\n").last ?? "")")
                let findings = try #require(finished.findings, "no findings: \(finished.output)")
                #expect((findings["failures"] as? [String]) == [], "\(findings["failures"] ?? "")")
                #expect(finished.status == 0)
                let flagged = findings["flagged"] as? [String: [String: Int]] ?? [:]
                for (asset, count) in expected {
                    #expect(flagged[asset]?["drawn"] == count, "\(asset): flagged points drawn equal the anomalies stored (\(count))")
                }
                #expect(findings["anonymous_sees_sign_in"] as? Bool == true)
                #expect(findings["picker_changed_chart"] as? Bool == true)
                #expect(findings["docs_predict_status"] as? String == "200")
                #expect((findings["screenshots"] as? [String])?.count == 6)
                #expect(findings["development_mode_opens_dashboard"] as? Bool == true)
                #expect(findings["challenger_compared_shown"] as? Int == 6)
                let forecast = findings["forecast"] as? [String: Any]
                #expect(forecast?["points"] as? Int == 288 && forecast?["drawn"] as? Bool == true, "\(forecast ?? [:])")
                #expect((forecast?["crossing"] as? String)?.isEmpty == false, "a limit passed within the day has its crossing shown")
                #expect(findings["challenger_stopped_by_button"] as? Bool == true)
                let after = try await client.execute(uri: "/models/challenger", method: .get, headers: SecuredApp.Key.fleetAdmin.headers)
                #expect(after.status == .notFound, "the page's Stop button ended the experiment")
            }
        }
    }
}
