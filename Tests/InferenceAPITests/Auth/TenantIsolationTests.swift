import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// A principal of one tenant can neither read nor write another tenant's anomaly rows, on
/// either store.
@Suite("Tenant isolation", .timeLimit(.minutes(5)))
struct TenantIsolationTests {
    static func check(_ app: some ApplicationProtocol, asset: String, setup: TestingSetup) async throws {
        let acme = SecuredApp.Key.anomalyWriter.headers
        let globex = SecuredApp.Key.globexWriter.headers
        let samples = try AnomalyRouteTests.series(count: 120)
        let train = try AnomalyRouteTests.json([
            "asset_id": asset, "metrics": ["cpu_pct", "memory_pct", "latency_ms"], "samples": samples, "n_estimators": 20, "seed": 1,
        ])
        let detect = try AnomalyRouteTests.json(["asset_id": asset, "samples": try AnomalyRouteTests.series(count: 30, offset: 200), "persist": true])
        try await app.test(setup) { client in
            func post(_ uri: String, _ body: ByteBuffer, _ headers: HTTPFields) async throws -> [String: Any] {
                let response = try await client.execute(uri: uri, method: .post, headers: headers, body: body)
                #expect((200..<300).contains(Int(response.status.code)), "\(uri): \(String(buffer: response.body).prefix(200))")
                return (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
            }
            func get(_ uri: String, _ headers: HTTPFields) async throws -> [String: Any] {
                let response = try await client.execute(uri: uri, method: .get, headers: headers)
                #expect(response.status == .ok, "\(uri)")
                return (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
            }
            // acme trains a model for the asset and persists 30 scores.
            let trained = try await post("/anomaly/train", train, acme)
            let acmeModel = try #require(trained["model_id"] as? String)
            let acmeDetect = try await post("/anomaly/detect", detect, acme)
            #expect(acmeDetect["model_id"] as? String == acmeModel)

            // globex sees none of it: no scores, no model rows, and its detection does not use acme's model.
            #expect(try await get("/anomaly/scores/\(asset)?hours=48&limit=1000", globex)["count"] as? Int == 0)
            let globexModels = try await get("/anomaly/models?asset_id=\(asset)", globex)["models"] as? [[String: Any]] ?? []
            #expect(globexModels.isEmpty)
            let globexDetect = try await post("/anomaly/detect", detect, globex)
            #expect(globexDetect["model_id"] is NSNull || globexDetect["model_id"] == nil, "globex is scored without acme's model")

            // globex's writes land in globex's rows only: acme still has exactly its 30.
            #expect(try await get("/anomaly/scores/\(asset)?hours=48&limit=1000", acme)["count"] as? Int == 30)
            #expect(try await get("/anomaly/scores/\(asset)?hours=48&limit=1000", globex)["count"] as? Int == 30)
            let acmeModels = try await get("/anomaly/models?asset_id=\(asset)", acme)["models"] as? [[String: Any]] ?? []
            #expect(acmeModels.count == 1)
        }
    }

    @Test func testTenantsAreIsolatedOnSQLite() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        try await Self.check(app, asset: "shared-router-1", setup: .router)
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testTenantsAreIsolatedOnPostgreSQL() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        let app = try await buildApplication(configuration: try SecuredApp.configuration { $0.databaseURL = url })
        try await Self.check(app, asset: "shared-router-\(UUID().uuidString.prefix(8))", setup: .live)
    }
}

@Suite("Rate limiting")
struct RateLimitRouteTests {
    @Test func testPastTheAllowanceAnswers429WithRetryAfterAndProbesAreExempt() async throws {
        let app = try await buildApplication(
            configuration: try SecuredApp.configuration(["RATE_LIMIT_PER_MINUTE": "3", "RATE_LIMIT_ROUTES": "/models/active=5"]))
        try await app.test(.router) { client in
            let admin = SecuredApp.Key.admin.headers
            var remaining: [String] = []
            for _ in 0..<3 {
                let response = try await client.execute(uri: "/models", method: .get, headers: admin)
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitLimit] == "3")
                remaining.append(response.headers[.rateLimitRemaining] ?? "")
            }
            #expect(remaining == ["2", "1", "0"])
            let refused = try await client.execute(uri: "/models", method: .get, headers: admin)
            #expect(refused.status == .tooManyRequests)
            #expect(try Envelope.decode(refused).error.code == "rate_limited")
            let retry = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...20).contains(retry))
            #expect(refused.headers[.rateLimitRemaining] == "0" && refused.headers[.rateLimitReset] != nil)

            // Another principal has its own bucket; a route with its own limit has its own bucket.
            let r1 = try await client.execute(uri: "/anomaly/models", method: .get, headers: SecuredApp.Key.anomalyReader.headers)
            #expect(r1.status == .ok)
            let own = try await client.execute(uri: "/models/active", method: .get, headers: admin)
            #expect(own.status == .ok && own.headers[.rateLimitLimit] == "5")

            // Health and readiness are never limited.
            for _ in 0..<10 {
                let r2 = try await client.execute(uri: "/health", method: .get)
                #expect(r2.status == .ok)
                let r3 = try await client.execute(uri: "/ready", method: .get)
                #expect(r3.status == .ok)
            }
            // Anonymous callers are limited by address too (failed logins included).
            var statuses: [UInt] = []
            for _ in 0..<5 {
                let body = ByteBuffer(string: "{\"username\":\"x\",\"password\":\"y\"}")
                statuses.append(UInt(try await client.execute(uri: "/auth/token", method: .post, headers: TestApp.json, body: body).status.code))
            }
            #expect(statuses == [401, 401, 401, 429, 429])
        }
    }
}
