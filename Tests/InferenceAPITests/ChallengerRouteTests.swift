import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import InferenceAPI

/// Champion and challenger on the committed store: the served champion (`xgb-200x6-champion`)
/// against the baseline run, checked against Python's probabilities of both runs.
@Suite("Champion and challenger", .timeLimit(.minutes(5)))
struct ChallengerRouteTests {
    /// The shadow at normal priority: under SCHED_IDLE, the default, a machine busy with the other
    /// suites in parallel starves it and the comparisons these tests wait for never come.
    static func configuration(_ change: (inout Configuration) -> Void = { _ in }) -> Configuration {
        TestApp.configuration {
            $0.challengerShadowAtNormalPriority = true
            change(&$0)
        }
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ json: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: TestApp.json, body: ByteBuffer(string: json))
    }

    static func status(_ client: some TestClientProtocol) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(uri: "/models/challenger", method: .get)
        return (response, try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:])
    }

    /// Polls the status until `done` holds (at most `seconds`); returns the last one.
    static func waitFor(_ client: some TestClientProtocol, seconds: Double = 15, _ done: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            last = try await status(client).1
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        return last
    }

    static func pair() throws -> (champion: TestApp.Vector, challenger: TestApp.Vector) {
        let champion = try TestApp.servedVector()
        guard let challenger = try TestApp.defaultStoreVectors().first(where: { $0.run_id != champion.run_id }) else {
            throw TestFailure("the default store has one run only")
        }
        #expect(champion.readings.count == challenger.readings.count, "both vectors score the same readings")
        return (champion, challenger)
    }

    static func body(_ readings: [[String: Any]]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: ["readings": readings]))
    }

    @Test func testShadowKeepsTheChampionsAnswersAndComparesEveryReading() async throws {
        let (champion, challenger) = try Self.pair()
        let configuration = Self.configuration()
        let app = try await buildApplication(configuration: configuration)
        // 1,000 readings: the 200 of the vectors, five times, 20 a request.
        let bodies = (0..<5).flatMap { _ in stride(from: 0, to: champion.readings.count, by: 20).map { Array(champion.readings[$0..<$0 + 20]) } }
        try await app.test(.router) { client in
            var before: [ByteBuffer] = []
            for readings in bodies {
                before.append(try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(readings)).body)
            }
            let started = try await Self.post(client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\", \"mode\": \"shadow\"}")
            #expect(started.status == .created)
            var identical = 0
            for (index, readings) in bodies.enumerated() {
                let response = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(readings))
                #expect(response.status == .ok)
                if response.body == before[index] { identical += 1 }
            }
            #expect(identical == bodies.count, "every answer byte-identical to the one without an experiment")
            let status = try await Self.waitFor(client) { ($0["compared"] as? Int) == 1000 }
            #expect(status["compared"] as? Int == 1000)
            // Python's probabilities of both runs, as float32 (what both libraries compute).
            let threshold = configuration.hazardThreshold
            var agree = 0, maxDiff = 0.0, sumDiff = 0.0
            for (a, b) in zip(champion.probabilities, challenger.probabilities) {
                let pa = Double(Float(a)), pb = Double(Float(b))
                if (pa >= threshold) == (pb >= threshold) { agree += 1 }
                maxDiff = max(maxDiff, abs(pa - pb))
                sumDiff += abs(pa - pb)
            }
            let expectedAgreement = Double(agree * 5) / 1000
            #expect(status["label_agreement"] as? Double == expectedAgreement)
            #expect(status["max_abs_diff"] as? Double == maxDiff)
            #expect(abs((status["mean_abs_diff"] as? Double ?? -1) - sumDiff / 200) < 1e-12)
            #expect((status["champion"] as? [String: Any])?["run_id"] as? String == champion.run_id)
            #expect((status["challenger"] as? [String: Any])?["run_id"] as? String == challenger.run_id)
            let calls = status["calls"] as? [String: Int]
            #expect(calls?["champion"] == bodies.count && calls?["challenger"] == bodies.count)
            print(
                "shadow: 1000 readings compared, label_agreement \(status["label_agreement"] ?? "-") (Python \(expectedAgreement)),"
                    + " max_abs_diff \(status["max_abs_diff"] ?? "-") (Python \(maxDiff)), identical answers \(identical)/\(bodies.count)")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("model_challenger_compared_total 1000"))
            #expect(metrics.contains("model_step_duration_seconds_count{role=\"challenger\"}"))
        }
    }

    @Test func testCanaryRoutesEveryModuleToOneRunWithThatRunsNumbers() async throws {
        let (champion, challenger) = try Self.pair()
        let app = try await buildApplication(configuration: Self.configuration())
        let python = [champion.run_id: champion.probabilities, challenger.run_id: challenger.probabilities]
        // 200 modules, five passes; reading i of the vectors is module i's.
        let modules = (0..<200).map { "rack-\($0 / 10)/module-\($0)" }
        try await app.test(.router) { client in
            let started = try await Self.post(client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\", \"mode\": \"canary\", \"percent\": 30}")
            #expect(started.status == .created)
            var runsOf: [String: Set<String>] = [:]
            var exact = 0, total = 0, summed: [String: Int] = [:]
            for pass in 0..<5 {
                for start in stride(from: 0, to: 200, by: 50) {
                    // Each pass in another order, so routing cannot depend on the position.
                    let indices = (start..<start + 50).map { (($0 + pass * 37) % 200) }
                    let readings: [[String: Any]] = indices.map { i in
                        var reading: [String: Any] = champion.readings[i]
                        reading["module_id"] = modules[i]
                        return reading
                    }
                    let response = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: Self.body(readings))
                    #expect(response.status == .ok)
                    let answer = try PredictAnswer.decode(response)
                    for (k, prediction) in answer.predictions.enumerated() {
                        let i = indices[k]
                        guard let run = prediction.run_id, let expected = python[run]?[i] else {
                            Issue.record("prediction \(k) names no known run")
                            continue
                        }
                        runsOf[modules[i], default: []].insert(run)
                        total += 1
                        if Float(prediction.hazard_probability) == Float(expected) { exact += 1 }
                    }
                    for (run, count) in answer.summary.runs ?? [:] { summed[run, default: 0] += count }
                }
            }
            #expect(runsOf.count == 200)
            #expect(runsOf.values.allSatisfy { $0.count == 1 }, "no module answered by both runs")
            let challengerModules = runsOf.values.filter { $0 == [challenger.run_id] }.count
            #expect((40...80).contains(challengerModules), "30 ± 10 % of 200 modules")
            #expect(exact == 1000 && total == 1000, "every prediction is Python's number for the run it names")
            #expect(summed[challenger.run_id] == challengerModules * 5 && summed[champion.run_id] == (200 - challengerModules) * 5)
            let status = try await Self.status(client).1
            let routed = status["routed"] as? [String: Int]
            #expect(routed?["challenger"] == challengerModules * 5 && routed?["champion"] == (200 - challengerModules) * 5)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("model_route_total{role=\"challenger\"} \(challengerModules * 5)"))
            print("canary 30 %: \(challengerModules) of 200 modules on the challenger (\(challengerModules / 2) %), \(exact)/1000 predictions equal to Python's for their run")
        }
    }

    /// The Open Inference route follows the routing (a request without module ids as a whole) and
    /// names the run that scored it in `model_version`.
    @Test func testOpenInferenceNamesTheRunThatScored() async throws {
        let (champion, challenger) = try Self.pair()
        let app = try await buildApplication(configuration: Self.configuration())
        let features = champion.feature_names
        let row = features.map { champion.readings[3][$0] ?? 0 }
        let body = try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "input-0", "datatype": "FP64", "shape": [1, features.count], "data": row]]
        ])
        try await app.test(.router) { client in
            for (percent, run, python) in [(100, challenger.run_id, challenger.probabilities[3]), (0, champion.run_id, champion.probabilities[3])] {
                let started = try await Self.post(
                    client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\", \"mode\": \"canary\", \"percent\": \(percent)}")
                #expect(started.status == .created)
                let response = try await client.execute(
                    uri: "/v2/models/battery-hazard/infer", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: body))
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(answer?["model_version"] as? String == run, "canary \(percent) %")
                let outputs = answer?["outputs"] as? [[String: Any]]
                let data = outputs?.first?["data"] as? [Double]
                #expect(data.map { Float($0[0]) == Float(python) } == true, "the probability of the run it names")
            }
        }
    }

    /// Counts shared by the load's workers: answers before and after the promotion returned.
    final class Load: Sendable {
        let answered = Atomic<Int>(0)
        let promoted = Atomic<Bool>(false)
        let afterPromotion = Atomic<Int>(0)
    }

    @Test func testPromoteUnderLoadFailsNoRequest() async throws {
        let (champion, challenger) = try Self.pair()
        let app = try await buildApplication(configuration: Self.configuration())
        let python = [champion.run_id: champion.probabilities, challenger.run_id: challenger.probabilities]
        try await app.test(.router) { client in
            #expect(try await Self.post(client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\"}").status == .created)
            // Counted, not timed (a loaded machine stretches any clock): 4 clients keep asking until
            // each has had 20 answers after the promotion returned.
            let load = Load()
            let results = try await withThrowingTaskGroup(of: (ok: Int, failed: Int, wrong: Int, runs: Set<String>).self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var ok = 0, failed = 0, wrong = 0, runs: Set<String> = []
                        var i = worker, after = 0
                        while after < 20 {
                            let promoted = load.promoted.load(ordering: .acquiring)
                            let rows = [(i * 5) % 200, (i * 5 + 1) % 200, (i * 5 + 2) % 200]
                            let response = try await client.execute(
                                uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(rows.map { champion.readings[$0] }))
                            if promoted { after += 1 }
                            load.answered.add(1, ordering: .relaxed)
                            guard response.status == .ok, let answer = try? PredictAnswer.decode(response) else {
                                failed += 1
                                continue
                            }
                            ok += 1
                            runs.insert(answer.model.run_id)
                            for (k, prediction) in answer.predictions.enumerated()
                            where Float(prediction.hazard_probability) != Float(python[answer.model.run_id]?[rows[k]] ?? -1) {
                                wrong += 1
                            }
                            i += 4
                        }
                        return (ok, failed, wrong, runs)
                    }
                }
                while load.answered.load(ordering: .relaxed) < 80 { try await Task.sleep(for: .milliseconds(5)) }
                let promoted = try await Self.post(client, "/models/challenger/promote", "")
                #expect(promoted.status == .ok)
                load.promoted.store(true, ordering: .releasing)
                var total = (ok: 0, failed: 0, wrong: 0, runs: Set<String>())
                for try await result in group {
                    total.ok += result.ok
                    total.failed += result.failed
                    total.wrong += result.wrong
                    total.runs.formUnion(result.runs)
                }
                return total
            }
            #expect(results.failed == 0 && results.wrong == 0)
            #expect(results.runs == [champion.run_id, challenger.run_id], "answers from both sides of the promotion")
            let active = try JSONSerialization.jsonObject(with: Data(buffer: try await client.execute(uri: "/models/active", method: .get).body)) as? [String: Any]
            #expect(active?["run_id"] as? String == challenger.run_id)
            #expect(try await Self.status(client).0.status == .notFound, "the experiment ended")
            print("promote under load: \(results.ok) answers from 4 clients, \(results.failed) failed, \(results.wrong) numbers not their run's")
        }
    }

    @Test(arguments: ["failing", "slow"])
    func testTheGuardStopsABadChallenger(fault: String) async throws {
        let (_, challenger) = try Self.pair()
        let app = try await buildApplication(
            configuration: Self.configuration {
                $0.challengerMinCalls = 50
                $0.challengerTickSeconds = 0.2
                // Slow: far past 3 x the champion's p99 even when a loaded machine stretches the champion's.
                if fault == "failing" { $0.challengerFaults.fail = true } else { $0.challengerFaults.delay = .milliseconds(30) }
            })
        let servedVector = try TestApp.servedVector()
        try await app.test(.router) { client in
            // Failing: a canary taking every reading (each answered by the champion instead). Slow: a
            // shadow, so both runs' model steps are timed on the same readings.
            let mode = fault == "failing" ? "\"mode\": \"canary\", \"percent\": 100" : "\"mode\": \"shadow\""
            #expect(try await Self.post(client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\", \(mode)}").status == .created)
            var failed = 0
            for i in 0..<80 {
                let response = try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body([servedVector.readings[i]]))
                if response.status != .ok { failed += 1 }
            }
            #expect(failed == 0, "a failing challenger's readings are answered by the champion")
            let status = try await Self.waitFor(client, seconds: 20) { $0["status"] as? String == "stopped" }
            let reason = (status["stopped"] as? [String: Any])?["reason"] as? String ?? ""
            #expect(status["status"] as? String == "stopped")
            #expect(reason.contains(fault == "failing" ? "error rate" : "p99"), "\(reason)")
            // Stopped: the champion answers alone again.
            let after = try PredictAnswer.decode(
                try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body([servedVector.readings[0]])))
            #expect(after.predictions.first?.run_id == nil && after.model.run_id == servedVector.run_id)
            // The audit log has the experiment's start and the guard's stop, newest first.
            let audit = try JSONSerialization.jsonObject(with: Data(buffer: try await client.execute(uri: "/anomaly/models", method: .get).body)) as? [String: Any]
            let entries = (audit?["models"] as? [[String: Any]] ?? []).filter { $0["model_type"] as? String == "xgboost_challenger" }
            #expect(entries.count == 2)
            let newest = String(describing: entries.first?["parameters"] ?? "")
            #expect(newest.contains("stopped"), "\(newest)")
            print("guard (\(fault)): stopped: \(reason)")
        }
    }

    @Test func testFeedbackScoresBothRunsOnTheSameOutcomesAndTheRecallRuleStops() async throws {
        let (champion, challenger) = try Self.pair()
        let configuration = Self.configuration { $0.challengerTickSeconds = 0.2 }
        let app = try await buildApplication(configuration: configuration)
        // Outcomes as the champion predicted them: its recall is 1, the baseline's what Python's numbers say.
        let outcomes = champion.predictions
        let threshold = configuration.hazardThreshold
        var tp = 0, fn = 0, fp = 0
        for (p, y) in zip(challenger.probabilities, outcomes) {
            let predicted = Double(Float(p)) >= threshold
            if y == 1 { if predicted { tp += 1 } else { fn += 1 } } else if predicted { fp += 1 }
        }
        let expectedRecall = Double(tp) / Double(tp + fn)
        let expectedPrecision: Double? = tp + fp > 0 ? Double(tp) / Double(tp + fp) : nil
        try #require(expectedRecall < 0.95, "the baseline misses some of the champion's hazards")
        try await app.test(.router) { client in
            #expect(try await Self.post(client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\"}").status == .created)
            let body = try JSONSerialization.data(withJSONObject: ["readings": champion.readings, "outcomes": outcomes])
            let recorded = try await client.execute(uri: "/feedback", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: body))
            #expect(recorded.status == .created || recorded.status == .ok)
            let status = try await Self.waitFor(client) { $0["status"] as? String == "stopped" }
            let feedback = status["feedback"] as? [String: [String: Any]]
            #expect(feedback?["champion"]?["n"] as? Int == 200 && feedback?["challenger"]?["n"] as? Int == 200)
            #expect(feedback?["champion"]?["recall"] as? Double == 1)
            #expect(feedback?["challenger"]?["recall"] as? Double == expectedRecall)
            #expect(feedback?["challenger"]?["precision"] as? Double == expectedPrecision)
            let reason = (status["stopped"] as? [String: Any])?["reason"] as? String ?? ""
            #expect(reason.contains("recall"), "\(reason)")
            print("feedback: champion recall 1, challenger recall \(expectedRecall) (Python), stopped: \(reason)")
        }
    }

    @Test(arguments: [
        ("{}", HTTPResponse.Status.badRequest, "validation_failed"),
        ("{\"run_id\": \"a\", \"model_uri\": \"b\"}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"RUN\", \"mode\": \"blue-green\"}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"RUN\", \"mode\": \"canary\"}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"RUN\", \"mode\": \"canary\", \"percent\": 101}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"RUN\", \"percent\": 10}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"RUN\", \"sticky\": \"tenant\"}", .badRequest, "validation_failed"),
        ("{\"run_id\": \"ffffffffffffffffffffffffffffffff\"}", .notFound, "model_not_found"),
        ("{\"model_uri\": \"models:/battery-hazard@nope\"}", .notFound, "model_not_found"),
        ("{\"run_id\": \"../../etc\"}", .badRequest, "invalid_reference"),
        ("{\"run_id\": \"CHAMPION\"}", .conflict, "challenger_is_champion"),
        ("not json", .badRequest, "validation_failed"),
    ])
    func testARefusedChallengerChangesNothing(body: String, status: HTTPResponse.Status, code: String) async throws {
        let (champion, challenger) = try Self.pair()
        let app = try await buildApplication(configuration: Self.configuration())
        try await app.test(.router) { client in
            let sent = body.replacingOccurrences(of: "RUN", with: challenger.run_id).replacingOccurrences(of: "CHAMPION", with: champion.run_id)
            let response = try await Self.post(client, "/models/challenger", sent)
            #expect(response.status == status)
            #expect(try Envelope.decode(response).error.code == code)
            #expect(try await Self.status(client).0.status == .notFound, "no experiment runs")
        }
    }

    @Test func testEndingAndPromotingWithoutAnExperimentAnswer404AndDeleteEndsIt() async throws {
        let (champion, challenger) = try Self.pair()
        let app = try await buildApplication(configuration: Self.configuration())
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/models/challenger", method: .delete).status == .notFound)
            #expect(try await Self.post(client, "/models/challenger/promote", "").status == .notFound)
            #expect(try await Self.post(client, "/models/challenger", "{\"model_uri\": \"runs:/\(challenger.run_id)/model\"}").status == .created)
            // Starting again replaces it (a new version).
            let first = try await Self.status(client).1["version"] as? Int
            #expect(try await Self.post(client, "/models/challenger", "{\"run_id\": \"\(challenger.run_id)\", \"mode\": \"canary\", \"percent\": 5}").status == .created)
            let second = try await Self.status(client).1
            #expect((second["version"] as? Int).map { $0 == (first ?? 0) + 1 } == true && second["mode"] as? String == "canary")
            #expect(try await client.execute(uri: "/models/challenger", method: .delete).status == .noContent)
            #expect(try await Self.status(client).0.status == .notFound)
            let active = try JSONSerialization.jsonObject(with: Data(buffer: try await client.execute(uri: "/models/active", method: .get).body)) as? [String: Any]
            #expect(active?["run_id"] as? String == champion.run_id, "the champion is untouched")
        }
    }
}
