import ComputeSupport
import EMSCore
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Storage
import Testing

extension EMSCoreIntegration {
    /// Episodes to EMS Core through the outbox, end to end: the real application (detect route,
    /// store, deliverer) against the stand-in, on SQLite and PostgreSQL.
    @Suite("EMS Core delivery", .serialized, .timeLimit(.minutes(5)))
    struct EMSDeliveryTests {
        /// The keys a run's changes must have reached EMS Core under: event per change, alert for open and escalate.
        static func expectedKeys(_ episodes: [[String: Any]], _ changes: [String: [String]]) -> Set<String> {
            var keys = Set<String>()
            for episode in episodes {
                let id = episode["id"] as? String ?? ""
                for change in changes[id] ?? [] {
                    keys.insert("\(id):\(change):event")
                    if change != "close" { keys.insert("\(id):\(change):alert") }
                }
            }
            return keys
        }

        static func episodes(_ client: some TestClientProtocol, asset: String) async throws -> [[String: Any]] {
            var all: [[String: Any]] = []
            var cursor: String?
            repeat {
                let uri = "/anomaly/episodes?asset_id=\(asset)&limit=50" + (cursor.map { "&cursor=\($0)" } ?? "")
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .ok)
                let object = EMSTestApp.object(response)
                all += object["episodes"] as? [[String: Any]] ?? []
                cursor = object["next"] as? String
            } while cursor != nil
            return all.reversed()
        }

        /// (a) 10,000 samples with 40 injected runs: exactly the expected episodes, each event and alert once.
        @Test(arguments: EMSTestApp.backends)
        func testInjectedRunsGiveExactlyTheExpectedEpisodesEachDeliveredOnce(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                let series = Series.make(count: 10_000, runs: 40, seed: 14)
                try await app.test(.live) { client in
                    var scores: [Double] = []
                    var flagged = Set<Int>()
                    for chunk in stride(from: 0, to: series.samples.count, by: 500) {
                        let results = try await EMSTestApp.detect(client, asset: "router-7", series.samples[chunk..<(chunk + 500)])
                        for (k, r) in results.enumerated() {
                            scores.append(r["score"] as? Double ?? -1)
                            if r["is_anomaly"] as? Bool == true { flagged.insert(chunk + k) }
                        }
                    }
                    #expect(flagged == series.anomalous, "\(backend): the detector flags exactly the injected samples")

                    let expected = series.expectedChanges(scores: scores, critical: 0.9)
                    let episodes = try await Self.episodes(client, asset: "router-7")
                    #expect(episodes.count == 40, "\(backend): one episode per run, none for lone spikes")
                    var changes: [String: [String]] = [:]
                    for (episode, want) in zip(episodes, expected) {
                        let started = ISO8601.parse(episode["started_at"] as? String ?? "")
                        #expect(started == series.samples[want.run.start].time, "\(backend): starts at the run's first sample")
                        let ended = ISO8601.parse(episode["ended_at"] as? String ?? "")
                        #expect(ended == series.samples[want.run.start + want.run.length + 4].time, "\(backend): closed by the fifth normal sample")
                        #expect(episode["anomalous_samples"] as? Int == want.run.length)
                        #expect(episode["state"] as? String == "closed" && episode["severity"] as? String == want.severity)
                        #expect(episode["metric"] as? String == "cpu")
                        changes[episode["id"] as? String ?? ""] = want.changes
                    }
                    #expect(expected.contains { $0.changes.contains("escalate") } && expected.contains { $0.severity == "warning" }, "the series has every shape")
                    let keys = Self.expectedKeys(episodes, changes)
                    let arrived = await EMSTestApp.eventually(60) { Set(ems.accepted.keys) == keys }
                    #expect(arrived, "\(backend): \(ems.accepted.count) of \(keys.count) arrived")
                    try await Task.sleep(for: .milliseconds(500))
                    let state = ems.state.withLock { $0 }
                    #expect(Set(state.accepted.keys) == keys && state.duplicates == 0, "\(backend): each once")
                    #expect(state.attempts.values.allSatisfy { $0 == 1 }, "\(backend): healthy EMS Core, one attempt each")
                    #expect(state.refusedAuth == 0, "the bearer token is sent")
                    let alerts = state.accepted.values.filter { $0.path == "alerts" }
                    #expect(alerts.count == keys.filter { $0.hasSuffix(":alert") }.count)
                    // Latency from commit to EMS Core, healthy stand-in.
                    let metrics = try await client.execute(uri: "/metrics", method: .get)
                    let text = String(buffer: metrics.body)
                    #expect(text.contains("ems_delivery_latency_seconds_count \(keys.count)"), "\(backend)")
                    #expect(text.contains("ems_outbox_messages{state=\"pending\"}") && text.contains("ems_breaker_state 0"))
                    let ready = EMSTestApp.object(try await client.execute(uri: "/ready", method: .get))
                    #expect(ready["status"] as? String == "ready" && ready["ems_core"] as? String == "closed")
                    print("EMS delivery latency (\(backend), healthy stand-in): \(try await DeliveryLatency.summary(client))")
                }
            }
        }

        /// One episode's POST never finishes (a slow body); another episode's messages are all
        /// delivered before that call even reaches its deadline, `/ready` says `degraded` once it
        /// has, and the message is delivered when EMS Core answers again.
        @Test(arguments: EMSTestApp.backends)
        func testOneHungCallStopsNoOtherEpisodeAndMakesReadyDegraded(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            ems.faults { $0.slowAssetId = "slow-1" }
            // Long enough that the other detect and its deliveries fit inside it under make test's load.
            let deadline = 10.0
            try await EMSTestApp.withDatabase(backend) { apply in
                let configuration = EMSTestApp.configuration(ems: ems) { c in
                    apply(&c)
                    c.emsCore?.timeout = deadline
                }
                let app = try await buildApplication(configuration: configuration)
                let series = Series.make(count: 400, runs: 1, seed: 5)
                try await app.test(.live) { client in
                    try await EMSTestApp.detect(client, asset: "slow-1", series.samples[...])
                    let hanging = await EMSTestApp.eventually(10) { ems.state.withLock { $0.attempts.count } >= 1 }
                    #expect(hanging, "\(backend): the slow episode's first call began")
                    let hungAt = Date()
                    try await EMSTestApp.detect(client, asset: "fast-1", series.samples[...])
                    // Its open event and alert, then its close: one after another.
                    let fast = await EMSTestApp.eventually(deadline + 3) { ems.accepted.count >= 3 }
                    let fastSeconds = Date().timeIntervalSince(hungAt)
                    let slowEnded = ems.state.withLock { s in s.streamed.contains { $0.path.hasPrefix("/api/") && $0.path != "/api/metrics" } }
                    #expect(fast, "\(backend): the other episode's messages were delivered: \(ems.accepted.count)")
                    #expect(!slowEnded, "\(backend): ... while the hung call was still under way (\(fastSeconds) s)")
                    #expect(ems.accepted.values.allSatisfy { $0.body["assetId"] as? String == "fast-1" })

                    // The hung call meets its deadline: degraded, still 200.
                    var ready = try await client.execute(uri: "/ready", method: .get)
                    let degraded = await EMSTestApp.eventually(deadline + 3) {
                        ready = (try? await client.execute(uri: "/ready", method: .get)) ?? ready
                        return (EMSTestApp.object(ready)["degraded"] as? [String] ?? []).contains { $0.contains("no complete answer") }
                    }
                    #expect(degraded && ready.status == .ok && EMSTestApp.object(ready)["status"] as? String == "degraded", "\(backend): \(String(buffer: ready.body))")
                    let degradedSeconds = Date().timeIntervalSince(hungAt)
                    #expect(degradedSeconds < deadline + 6, "\(backend): degraded \(degradedSeconds) s after the call began")

                    // EMS Core answers again: the message arrives, and /ready is ready again.
                    ems.faults { $0.slowAssetId = nil }
                    let recovered = await EMSTestApp.eventually(30) {
                        ems.accepted.values.contains { $0.body["assetId"] as? String == "slow-1" }
                    }
                    #expect(recovered, "\(backend): the hung episode's message was delivered after all")
                    let readyAgain = try await EMSTestApp.eventually(30) {
                        EMSTestApp.object(try await client.execute(uri: "/ready", method: .get))["status"] as? String == "ready"
                    }
                    #expect(readyAgain, "\(backend): ready again")
                    print(
                        "EMS delivery (\(backend)): a POST hung (slow body), EMS_CORE_TIMEOUT_SECONDS=10: another episode's 3 messages delivered \(String(format: "%.2f", fastSeconds)) s after it began; /ready degraded \(String(format: "%.2f", degradedSeconds)) s after"
                    )
                }
            }
        }

        /// Delivery latency with a healthy EMS Core and a steady trickle of detections: 100 requests,
        /// 50 ms apart, each opening and closing an episode (3 messages). Printed for the README.
        @Test(arguments: EMSTestApp.backends)
        func testDeliveryLatencyWhenHealthy(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                let series = Series.make(count: 250 + 100 * 40, runs: 0, seed: 18)
                try await app.test(.live) { client in
                    try await EMSTestApp.detect(client, asset: "pdu-4", series.samples[0..<250])
                    for k in 0..<100 {
                        let base = 250 + k * 40
                        var part = Array(series.samples[base..<(base + 40)])
                        for j in 0..<2 { part[j] = Series.Sample(time: part[j].time, metrics: ["cpu": 95, "memory": part[j].metrics["memory"] ?? 50]) }
                        try await EMSTestApp.detect(client, asset: "pdu-4", part[...])
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    #expect(await EMSTestApp.eventually(30) { ems.accepted.count == 300 }, "\(backend): \(ems.accepted.count) of 300")
                    // The last answers are recorded a moment after the stand-in counts them.
                    _ = await EMSTestApp.eventually(10) { (try? await DeliveryLatency.summary(client))?.hasPrefix("300 messages") == true }
                    let summary = try await DeliveryLatency.summary(client)
                    #expect(summary.hasPrefix("300 messages"), "\(summary)")
                    print("EMS delivery latency (\(backend), healthy stand-in, trickle of 100 detections 50 ms apart): \(summary)")
                }
            }
        }

        /// (b) EMS Core down for 30 s during detection: nothing lost, all delivered after, the breaker
        /// opened (and /ready said degraded) and closed.
        @Test(arguments: EMSTestApp.backends)
        func testAnOutageLosesNothingAndTheBreakerOpensAndCloses(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                let series = Series.make(count: 10_500, runs: 100, seed: 15)
                try await app.test(.live) { client in
                    try await EMSTestApp.detect(client, asset: "sw-1", series.samples[0..<500])
                    #expect(await EMSTestApp.eventually(10) { !ems.accepted.isEmpty }, "delivering before the outage")
                    await ems.stop()
                    let outage = Date()
                    var sawDegraded = false
                    for chunk in stride(from: 500, to: series.samples.count, by: 500) {
                        try await EMSTestApp.detect(client, asset: "sw-1", series.samples[chunk..<(chunk + 500)])
                        try await Task.sleep(for: .seconds(2))
                        let ready = try await client.execute(uri: "/ready", method: .get)
                        #expect(ready.status == .ok, "EMS Core down is not unready")
                        if EMSTestApp.object(ready)["status"] as? String == "degraded" { sawDegraded = true }
                    }
                    let wait = 30 - Date().timeIntervalSince(outage)
                    if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
                    let pendingBefore = EMSTestApp.object(try await client.execute(uri: "/ems/outbox?state=pending&limit=1000", method: .get))["count"] as? Int ?? 0
                    #expect(sawDegraded, "\(backend): /ready said degraded while the breaker was open")
                    #expect(pendingBefore > 0)
                    let metricsDuring = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                    #expect(metricsDuring.contains("ems_breaker_state 2") || metricsDuring.contains("ems_breaker_state 1"), "\(backend): open during the outage")

                    try await ems.restart()
                    let back = Date()
                    let episodes = try await Self.episodes(client, asset: "sw-1")
                    var changes: [String: [String]] = [:]
                    for e in episodes { changes[e["id"] as? String ?? ""] = e["state"] as? String == "closed" ? ["open", "close"] : ["open"] }
                    // Escalations: whatever the store says happened must arrive too; take them from the outbox's delivered rows at the end.
                    let arrived = await EMSTestApp.eventually(120) {
                        let counts = try? await client.execute(uri: "/ems/outbox?state=pending&limit=1", method: .get)
                        return counts.map { EMSTestApp.object($0)["count"] as? Int == 0 } ?? false
                    }
                    let caughtUp = Date().timeIntervalSince(back)
                    #expect(arrived, "\(backend): the outbox drained after the outage")
                    let delivered = try await Self.deliveredKeys(client)
                    let state = ems.state.withLock { $0 }
                    #expect(Set(state.accepted.keys) == delivered, "\(backend): every committed change arrived")
                    #expect(Self.expectedKeys(episodes, changes).isSubset(of: delivered), "\(backend): every open and close among them")
                    #expect(state.duplicates == 0 || state.accepted.count == delivered.count, "each key accepted once")
                    #expect(episodes.count == series.runs.count)
                    let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                    #expect(metrics.contains("ems_breaker_transitions_total{to=\"open\"}"), "\(backend): the breaker opened")
                    #expect(metrics.contains("ems_breaker_transitions_total{to=\"closed\"}") && metrics.contains("ems_breaker_state 0"), "\(backend): and closed")
                    let ready = EMSTestApp.object(try await client.execute(uri: "/ready", method: .get))
                    #expect(ready["status"] as? String == "ready")
                    let transitions = metrics.split(separator: "\n").filter { $0.hasPrefix("ems_breaker_transitions_total") || $0.hasPrefix("ems_deliveries_total") }
                    print("EMS outage series (\(backend)): \(transitions.joined(separator: "; "))")
                    print(
                        "EMS catch-up (\(backend)): \(pendingBefore) messages pending after a 30 s outage, drained \(String(format: "%.2f", caughtUp)) s after EMS Core came back (\(String(format: "%.0f", Double(pendingBefore) / max(caughtUp, 0.001))) messages/s)"
                    )
                }
            }
        }

        static func deliveredKeys(_ client: some TestClientProtocol) async throws -> Set<String> {
            var keys = Set<String>()
            var after = 0
            while true {
                let object = EMSTestApp.object(try await client.execute(uri: "/ems/outbox?state=delivered&limit=1000&after=\(after)", method: .get))
                let messages = object["messages"] as? [[String: Any]] ?? []
                keys.formUnion(messages.compactMap { $0["idempotency_key"] as? String })
                guard let next = object["next_after"] as? Int else { break }
                after = next
            }
            return keys
        }

        /// (d) A 400 from EMS Core parks that message; the rest flow; an admin retry delivers it.
        @Test(arguments: EMSTestApp.backends)
        func testARefusedMessageIsParkedTheRestFlowAndARetryDeliversIt(_ backend: EMSTestApp.Backend) async throws {
            let ems = StandInEMSCore()
            try await ems.start()
            defer { Task { await ems.stop() } }
            try await EMSTestApp.withDatabase(backend) { apply in
                let app = try await buildApplication(configuration: EMSTestApp.configuration(ems: ems, apply))
                let series = Series.make(count: 1_400, runs: 10, seed: 16)
                ems.faults { $0.rejectKeysContaining = ":open:alert" }
                try await app.test(.live) { client in
                    try await EMSTestApp.detect(client, asset: "ups-3", series.samples[0..<series.samples.count])
                    let episodes = try await Self.episodes(client, asset: "ups-3")
                    #expect(episodes.count == 10)
                    let parked = await EMSTestApp.eventually(30) {
                        let object = EMSTestApp.object((try? await client.execute(uri: "/ems/outbox?state=parked", method: .get))!)
                        return object["count"] as? Int == 10
                    }
                    #expect(parked, "\(backend): every opening alert parked")
                    let list = EMSTestApp.object(try await client.execute(uri: "/ems/outbox?state=parked", method: .get))
                    let messages = list["messages"] as? [[String: Any]] ?? []
                    #expect(messages.allSatisfy { ($0["last_error"] as? String ?? "").hasPrefix("EMS Core answered 400") }, "\(backend): with the reason")
                    #expect(await EMSTestApp.eventually(30) { ems.accepted.count == episodes.count * 2 + ems.accepted.keys.filter { $0.contains(":escalate:") }.count })
                    #expect(ems.accepted.keys.allSatisfy { !$0.contains(":open:alert") }, "\(backend): the rest flowed, the parked did not")
                    // Accepted by the stand-in before the deliverer has recorded the answer: wait for that.
                    let drained = await EMSTestApp.eventually(10) {
                        EMSTestApp.object((try? await client.execute(uri: "/ems/outbox?state=pending", method: .get))!)["count"] as? Int == 0
                    }
                    #expect(drained, "\(backend): nothing left pending")

                    ems.faults { $0.rejectKeysContaining = nil }
                    let bad = try await client.execute(uri: "/ems/outbox/retry", method: .post, headers: EMSTestApp.json, body: ByteBuffer(string: "{\"ids\": [\"x\"]}"))
                    #expect(bad.status == .badRequest)
                    let one = messages.first?["id"] as? Int ?? 0
                    let retried = try await client.execute(
                        uri: "/ems/outbox/retry", method: .post, headers: EMSTestApp.json, body: ByteBuffer(string: "{\"ids\": [\(one)]}"))
                    #expect(EMSTestApp.object(retried)["retried"] as? Int == 1)
                    let rest = try await client.execute(uri: "/ems/outbox/retry", method: .post)
                    #expect(EMSTestApp.object(rest)["retried"] as? Int == 9)
                    #expect(await EMSTestApp.eventually(30) { ems.accepted.keys.filter { $0.contains(":open:alert") }.count == 10 }, "\(backend)")
                    let state = ems.state.withLock { $0 }
                    #expect(state.duplicates == 0)
                    let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                    #expect(metrics.contains("ems_deliveries_total{target=\"alert\",result=\"parked\"} 10"), "\(backend)")
                }
            }
        }
    }
}

/// Delivery latency as the outbox records it: from the row's commit (`created_at`) to EMS Core's
/// answer (`delivered_at`).
enum DeliveryLatency {
    static func summary(_ client: some TestClientProtocol) async throws -> String {
        var latencies: [Double] = []
        var after = 0
        while true {
            let object = EMSTestApp.object(try await client.execute(uri: "/ems/outbox?state=delivered&limit=1000&after=\(after)", method: .get))
            for m in object["messages"] as? [[String: Any]] ?? [] {
                if let created = (m["created_at"] as? String).flatMap(ISO8601.parse), let delivered = (m["delivered_at"] as? String).flatMap(ISO8601.parse) {
                    latencies.append(delivered.timeIntervalSince(created))
                }
            }
            guard let next = object["next_after"] as? Int else { break }
            after = next
        }
        latencies.sort()
        guard !latencies.isEmpty else { return "no deliveries" }
        func p(_ q: Double) -> String { String(format: "%.1f ms", latencies[min(latencies.count - 1, Int(q * Double(latencies.count)))] * 1000) }
        return "\(latencies.count) messages, p50 \(p(0.5)), p99 \(p(0.99)), max \(p(1))"
    }
}
