import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// `Idempotency-Key` on the write routes, through the application as it runs (SQLite store).
@Suite("Idempotent retries", .timeLimit(.minutes(5)))
struct IdempotencyRouteTests {
    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: ByteBuffer, key: String?, headers: HTTPFields = TestApp.json)
        async throws -> TestResponse
    {
        var fields = headers
        fields[.contentType] = "application/json"
        if let key { fields[Idempotency.header] = key }
        return try await client.execute(uri: uri, method: .post, headers: fields, body: body)
    }

    static func storedSamples(_ client: some TestClientProtocol, _ asset: String, headers: HTTPFields = [:]) async throws -> Int {
        let response = try await client.execute(uri: "/anomaly/samples/\(asset)?hours=1000&limit=10000", method: .get, headers: headers)
        let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        return object?["count"] as? Int ?? -1
    }

    static func code(_ response: TestResponse) -> String? {
        try? Envelope.decode(response).error.code
    }

    @Test func testARetriedDetectGetsTheFirstAnswerAndStoresNothingMore() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let body = try AnomalyRouteTests.json(["asset_id": "bess-1", "samples": try AnomalyRouteTests.series(count: 30)])
        let other = try AnomalyRouteTests.json(["asset_id": "bess-1", "samples": try AnomalyRouteTests.series(count: 31)])
        try await app.test(.router) { client in
            let first = try await Self.post(client, "/anomaly/detect", body, key: "detect-0001")
            #expect(first.status == .ok)
            #expect(first.headers[Idempotency.replayed] == nil)
            let retry = try await Self.post(client, "/anomaly/detect", body, key: "detect-0001")
            #expect(retry.status == .ok)
            #expect(retry.headers[Idempotency.replayed] == "true")
            #expect(Data(buffer: retry.body) == Data(buffer: first.body), "the first answer, byte for byte")
            #expect(try await Self.storedSamples(client, "bess-1") == 30, "stored once")

            let reused = try await Self.post(client, "/anomaly/detect", other, key: "detect-0001")
            #expect(reused.status == .unprocessableContent)
            #expect(Self.code(reused) == "idempotency_key_reused")
            #expect(try await Self.storedSamples(client, "bess-1") == 30, "a refused retry stores nothing")

            // Without a key every call writes, as before.
            let unkeyed = try await Self.post(client, "/anomaly/detect", other, key: nil)
            #expect(unkeyed.status == .ok)
            #expect(try await Self.storedSamples(client, "bess-1") == 61)
        }
    }

    @Test func testMalformedKeysAre400() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let body = try AnomalyRouteTests.json(["asset_id": "bess-2", "samples": try AnomalyRouteTests.series(count: 3)])
        try await app.test(.router) { client in
            for key in ["", "has space", String(repeating: "k", count: 256), "tab\tkey"] {
                let response = try await Self.post(client, "/anomaly/detect", body, key: key)
                #expect(response.status == .badRequest, "key \(key.debugDescription)")
                #expect(Self.code(response) == "invalid_idempotency_key")
            }
            #expect(try await Self.storedSamples(client, "bess-2") == 0)
        }
    }

    @Test func testARetriedTrainingAnswersTheSameModel() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let body = try AnomalyRouteTests.json(["asset_id": "bess-3", "metrics": ["cpu_pct"], "samples": try AnomalyRouteTests.series(count: 200), "n_estimators": 10])
        try await app.test(.router) { client in
            let first = try await Self.post(client, "/anomaly/train", body, key: "train-bess-3")
            #expect(first.status == .created)
            let retry = try await Self.post(client, "/anomaly/train", body, key: "train-bess-3")
            #expect(retry.status == .created)
            #expect(retry.headers[Idempotency.replayed] == "true")
            #expect(Data(buffer: retry.body) == Data(buffer: first.body))
            let (_, models) = try await AnomalyRouteTests.get(client, "/anomaly/models?asset_id=bess-3")
            #expect((models["models"] as? [[String: Any]])?.count == 1, "one model trained")
        }
    }

    @Test func testARetriedFeedbackIsStoredOnce() async throws {
        let vector = try TestApp.servedVector()
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        let rows = Array(vector.readings.prefix(20))
        let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["readings": rows, "outcomes": Array(vector.predictions.prefix(20))]))
        try await app.test(.router) { client in
            // Replays are the first answer byte for byte (its keys were once in another order most times).
            var answers: Set<String> = []
            for attempt in 0..<15 {
                let response = try await Self.post(client, "/feedback", body, key: "feedback-batch-7", headers: SecuredApp.Key.predict.headers)
                #expect(response.status == .created, "attempt \(attempt): \(String(buffer: response.body))")
                answers.insert(String(buffer: response.body))
            }
            #expect(answers.count == 1, "\(answers)")
            let answer = try await client.execute(uri: "/models/active/performance", method: .get, headers: SecuredApp.Key.admin.headers)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: answer.body)) as? [String: Any]
            #expect(object?["feedback_rows"] as? Int == 20)
        }
    }

    /// Eight clients send one request with one key at once: one write, eight equal answers.
    @Test func testConcurrentRetriesWriteOnce() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let body = try AnomalyRouteTests.json(["asset_id": "bess-4", "samples": try AnomalyRouteTests.series(count: 40)])
        try await app.test(.live) { client in
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, Data).self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let response = try await Self.post(client, "/anomaly/detect", body, key: "race-1")
                        return (response.status, Data(buffer: response.body))
                    }
                }
                return try await group.reduce(into: [(HTTPResponse.Status, Data)]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.0 == .ok }, "\(answers.map(\.0))")
            #expect(Set(answers.map(\.1)).count == 1, "every client got the same answer")
            #expect(try await Self.storedSamples(client, "bess-4") == 40)
        }
    }
}
