import Artifacts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Storage
import Testing

@testable import InferenceAPI

@Suite("Authentication and authorisation")
struct AuthRouteTests {
    /// One representative request per route class, and the scope it needs.
    struct RouteClass: Sendable, CustomStringConvertible {
        let scope: Scope
        let method: HTTPRequest.Method
        let uri: String
        let body: @Sendable () throws -> ByteBuffer?
        /// The key that has this scope.
        let key: SecuredApp.Key
        /// A key of the same tenant without it.
        let wrongKey: SecuredApp.Key
        var description: String { "\(method) \(uri)" }
    }

    static let classes: [RouteClass] = [
        RouteClass(
            scope: .predict, method: .post, uri: "/predict",
            body: { TestApp.body(try TestApp.servedVector().readings.prefix(3).map { $0 }) }, key: .predict, wrongKey: .anomalyWriter),
        RouteClass(
            scope: .anomalyWrite, method: .post, uri: "/anomaly/detect",
            body: {
                ByteBuffer(
                    bytes: try JSONSerialization.data(withJSONObject: [
                        "asset_id": "auth-probe", "persist": false,
                        "samples": [["timestamp": "2026-11-25T10:00:00Z", "metrics": ["cpu": 3.0]]],
                    ]))
            }, key: .anomalyWriter, wrongKey: .anomalyReader),
        RouteClass(scope: .anomalyRead, method: .get, uri: "/anomaly/models", body: { nil }, key: .anomalyReader, wrongKey: .predict),
        RouteClass(scope: .modelsAdmin, method: .get, uri: "/models/active", body: { nil }, key: .admin, wrongKey: .metrics),
        RouteClass(scope: .metricsRead, method: .get, uri: "/metrics", body: { nil }, key: .metrics, wrongKey: .admin),
    ]

    static func send(_ client: some TestClientProtocol, _ route: RouteClass, _ headers: HTTPFields) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: route.uri, method: route.method, headers: headers, body: try route.body())
    }

    @Test(arguments: classes)
    func testEachOutcomeOfEachRouteClass(_ route: RouteClass) async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        try await app.test(.router) { client in
            let anonymous = try await Self.send(client, route, [:])
            #expect(anonymous.status == .unauthorized, "\(route): no credentials")
            #expect(anonymous.headers[values: .wwwAuthenticate].contains { $0.hasPrefix("Bearer realm=") }, "\(route): WWW-Authenticate")
            #expect(try Envelope.decode(anonymous).error.code == "unauthorized")

            let wrongScope = try await Self.send(client, route, route.wrongKey.headers)
            #expect(wrongScope.status == .forbidden, "\(route): a key without \(route.scope.rawValue)")
            #expect(try Envelope.decode(wrongScope).error.message.contains(route.scope.rawValue))

            let withKey = try await Self.send(client, route, route.key.headers)
            #expect(withKey.status == .ok, "\(route): a key with \(route.scope.rawValue): \(String(buffer: withKey.body).prefix(300))")

            let token = try await SecuredApp.login(client)
            let withToken = try await Self.send(client, route, SecuredApp.bearer(token))
            #expect(withToken.status == .ok, "\(route): the operator's token")

            let badKey = try await Self.send(client, route, [HTTPField.Name("X-API-Key")!: "not-a-configured-key-at-all"])
            #expect(badKey.status == .unauthorized, "\(route): an unknown API key")

            var both = route.key.headers
            both[.authorization] = "Bearer not-a-token"
            let twoCredentials = try await Self.send(client, route, both)
            #expect(twoCredentials.status == .unauthorized, "\(route): a valid key beside a bad token")

            // One character of the signature changed, away from its end: the last base64url
            // character carries 2 unused bits, so changing the last two to "xx" left the signature
            // the same about once in a thousand tokens (a CI run met one).
            var characters = Array(token)
            let k = characters.count - 10
            characters[k] = characters[k] == "A" ? "B" : "A"
            let tampered = try await Self.send(client, route, SecuredApp.bearer(String(characters)))
            #expect(tampered.status == .unauthorized, "\(route): a tampered token")
            #expect(tampered.headers[values: .wwwAuthenticate].contains { $0.contains("error=\"invalid_token\"") })
        }
    }

    @Test func testExpiredForeignAndScopeLimitedTokensAreRefused() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: SecuredApp.secret), digestAlgorithm: .sha256)
        func token(expires: Date, scope: String, secret: JWTKeyCollection) async throws -> String {
            try await secret.sign(
                Authenticator.TokenPayload(
                    sub: .init(value: "someone"), exp: .init(value: expires), iat: .init(value: Date()), iss: .init(value: Authenticator.issuer),
                    tenant: "acme", scope: scope))
        }
        let expired = try await token(expires: Date().addingTimeInterval(-60), scope: "models:admin", secret: keys)
        let readOnly = try await token(expires: Date().addingTimeInterval(600), scope: "anomaly:read", secret: keys)
        let other = await JWTKeyCollection().add(hmac: HMACKey(from: String(repeating: "z", count: 40)), digestAlgorithm: .sha256)
        let foreign = try await token(expires: Date().addingTimeInterval(600), scope: "models:admin", secret: other)
        try await app.test(.router) { client in
            let r4 = try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.bearer(expired))
            #expect(r4.status == .unauthorized)
            let r5 = try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.bearer(foreign))
            #expect(r5.status == .unauthorized)
            let r6 = try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.bearer(readOnly))
            #expect(r6.status == .forbidden)
            let r7 = try await client.execute(uri: "/anomaly/models", method: .get, headers: SecuredApp.bearer(readOnly))
            #expect(r7.status == .ok)
        }
    }

    @Test func testLoginIssuesABearerTokenWithExpiryAndScopes() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration(["JWT_EXPIRES_IN": "900"]))
        try await app.test(.router) { client in
            let body = try JSONSerialization.data(withJSONObject: ["username": SecuredApp.operatorName, "password": SecuredApp.operatorPassword])
            let response = try await client.execute(uri: "/auth/token", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: body))
            #expect(response.status == .ok)
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
            #expect(answer["token_type"] as? String == "bearer")
            #expect(answer["expires_in"] as? Int == 900)
            #expect((answer["scope"] as? String)?.split(separator: " ").count == Scope.allCases.count)
            let token = try #require(answer["access_token"] as? String)
            let payload = try await JWTKeyCollection().add(hmac: HMACKey(from: SecuredApp.secret), digestAlgorithm: .sha256)
                .verify(token, as: Authenticator.TokenPayload.self)
            #expect(payload.tenant == "acme")
            #expect(abs(payload.exp.value.timeIntervalSinceNow - 900) < 30)

            for (user, password) in [(SecuredApp.operatorName, "wrong"), ("someone", SecuredApp.operatorPassword)] {
                let wrong = try JSONSerialization.data(withJSONObject: ["username": user, "password": password])
                let refused = try await client.execute(uri: "/auth/token", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: wrong))
                #expect(refused.status == .unauthorized)
                #expect(!String(buffer: refused.body).contains(password))
            }
            let malformed = try await client.execute(uri: "/auth/token", method: .post, headers: TestApp.json, body: ByteBuffer(string: "{\"username\": 3}"))
            #expect(malformed.status == .badRequest)
        }
    }

    @Test func testProbesNeedNoCredentialsAndMetricsAcceptBasicAuth() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        try await app.test(.router) { client in
            for uri in ["/health", "/ready", "/v2/health/live", "/v2/health/ready", "/openapi.json"] {
                let r8 = try await client.execute(uri: uri, method: .get)
                #expect(r8.status == .ok, "\(uri)")
            }
            let r9 = try await client.execute(uri: "/metrics", method: .get, headers: SecuredApp.basic("prometheus", "scrape-secret-1234"))
            #expect(r9.status == .ok)
            let r10 = try await client.execute(uri: "/metrics", method: .get, headers: SecuredApp.basic("prometheus", "wrong"))
            #expect(r10.status == .unauthorized)
            // The scraper's credentials grant metrics:read only.
            let r11 = try await client.execute(uri: "/models", method: .get, headers: SecuredApp.basic("prometheus", "scrape-secret-1234"))
            #expect(r11.status == .forbidden)
            #expect(
                try await client.execute(uri: "/models", method: .get, headers: SecuredApp.basic(SecuredApp.operatorName, SecuredApp.operatorPassword))
                    .status == .ok)
        }
    }

    @Test func testMetricsCanBeOpenedForAPrivateNetwork() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration(["METRICS_AUTH": "off"]))
        try await app.test(.router) { client in
            let r12 = try await client.execute(uri: "/metrics", method: .get)
            #expect(r12.status == .ok)
            let r13 = try await client.execute(uri: "/drift", method: .get)
            #expect(r13.status == .unauthorized)
        }
    }

    @Test func testDevelopmentModeAllowsEverythingAndHasNoLogin() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let r14 = try await client.execute(uri: "/models/active", method: .get)
            #expect(r14.status == .ok)
            let r15 = try await client.execute(uri: "/metrics", method: .get)
            #expect(r15.status == .ok)
            let login = try await client.execute(
                uri: "/auth/token", method: .post, headers: TestApp.json, body: ByteBuffer(string: "{\"username\":\"a\",\"password\":\"b\"}"))
            #expect(login.status == .notFound)
            #expect(try Envelope.decode(login).error.code == "login_disabled")
        }
    }
}
