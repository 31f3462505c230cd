import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Storage
import Testing

extension EMSCoreIntegration {
    /// Hazard episodes: a battery module whose hazard probability reaches the threshold in readings
    /// in a row (within a request or across requests) opens an episode that EMS Core hears of.
    @Suite("Hazard episodes", .serialized, .timeLimit(.minutes(5)))
    struct HazardEpisodeTests {
        struct Vector: Decodable {
            let mlruns: String
            let run_id: String
            let readings: [[String: Double]]
            let probabilities: [Double]
        }

        /// Readings of the served run with Python's probabilities: hazardous ones and normal ones.
        static func readings(servedRun: String) throws -> (hazardous: [[String: Double]], normal: [[String: Double]]) {
            let directory = EMSTestApp.repoRoot.appendingPathComponent("fixtures/vectors")
            for file in try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) where file.pathExtension == "json" {
                let vector = try JSONDecoder().decode(Vector.self, from: Data(contentsOf: file))
                guard vector.mlruns == "mlruns", vector.run_id == servedRun else { continue }
                let pairs = zip(vector.readings, vector.probabilities)
                return (pairs.filter { $0.1 >= 0.5 }.map(\.0), pairs.filter { $0.1 < 0.2 }.map(\.0))
            }
            throw TestFailure("no fixture vector of the served run \(servedRun)")
        }

        static func predict(_ client: some TestClientProtocol, _ rows: [(module: String, reading: [String: Double], minute: Int)]) async throws {
            let readings: [[String: Any]] = rows.map { row in
                var r: [String: Any] = row.reading
                r["module_id"] = row.module
                r["timestamp"] = ISO8601.format(Date(timeIntervalSince1970: 1_800_000_000 + Double(row.minute) * 60))
                return r
            }
            let response = try await client.execute(
                uri: "/predict", method: .post, headers: EMSTestApp.json, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["readings": readings])))
            #expect(response.status == .ok, "\(String(buffer: response.body).prefix(300))")
        }

        @Test(arguments: EMSTestApp.backends)
        func testModulesAtRiskOpenHazardEpisodesThatReachEMSCore(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                try await app.test(.live) { client in
                    let active = EMSTestApp.object(try await client.execute(uri: "/models/active", method: .get))
                    let (hot, cold) = try Self.readings(servedRun: try #require(active["run_id"] as? String))
                    try #require(hot.count >= 4 && cold.count >= 10)
                    // m-1: three hazardous readings then five normal ones, in one request.
                    // m-2: one hazardous reading between normal ones: no episode.
                    var rows: [(module: String, reading: [String: Double], minute: Int)] = []
                    for k in 0..<3 { rows.append(("m-1", hot[k], k)) }
                    for k in 0..<5 { rows.append(("m-1", cold[k], 3 + k)) }
                    rows += [("m-2", cold[0], 0), ("m-2", hot[0], 1), ("m-2", cold[1], 2)]
                    try await Self.predict(client, rows)
                    // m-3: hazardous across two requests, then normal readings one request at a time.
                    try await Self.predict(client, [("m-3", hot[1], 0)])
                    try await Self.predict(client, [("m-3", hot[2], 1)])
                    for k in 0..<5 { try await Self.predict(client, [("m-3", cold[k], 2 + k)]) }

                    // Recorded off the request path: the answers above did not wait for it.
                    var episodes: [[String: Any]] = []
                    _ = try await EMSTestApp.eventually(10) {
                        let listed = EMSTestApp.object(try await client.execute(uri: "/anomaly/episodes", method: .get))
                        episodes = listed["episodes"] as? [[String: Any]] ?? []
                        return episodes.count == 2 && episodes.allSatisfy { $0["state"] as? String == "closed" }
                    }
                    #expect(Set(episodes.compactMap { $0["asset_id"] as? String }) == ["m-1", "m-3"], "\(backend): \(episodes)")
                    #expect(episodes.allSatisfy { $0["kind"] as? String == "hazard" && $0["state"] as? String == "closed" })
                    #expect(episodes.allSatisfy { $0["metric"] as? String == "hazard_probability" })
                    let m1 = try #require(episodes.first { $0["asset_id"] as? String == "m-1" })
                    #expect(m1["anomalous_samples"] as? Int == 3)
                    let arrived = await EMSTestApp.eventually(20) {
                        ems.accepted.values.filter { $0.path == "events" && ($0.body["type"] as? String)?.hasPrefix("hazard.episode.") == true }.count >= 4
                    }
                    #expect(arrived, "\(backend): open and close of both modules reached EMS Core")
                    #expect(ems.accepted.keys.filter { $0.hasSuffix(":open:alert") }.count == 2)
                    #expect(ems.state.withLock { $0.duplicates } == 0)
                }
            }
        }
    }
}
