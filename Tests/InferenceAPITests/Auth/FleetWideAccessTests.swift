import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Testing

@testable import InferenceAPI

/// Activating a model changes what every tenant is served: a credential limited to one tenant
/// may not, whatever its scopes (issue 24: a `models:admin` key of tenant `acme` activated the
/// model for every tenant). The operator, development mode and keys of every tenant may.
@Suite("Fleet-wide access")
struct FleetWideAccessTests {
    static func activate(_ client: some TestClientProtocol, _ headers: HTTPFields, run: String) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: "/models/activate", method: .post, headers: headers, body: ByteBuffer(string: #"{"run_id": "\#(run)"}"#))
    }

    static func token(tenant: String, scope: String, fleet: Bool?) async throws -> String {
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: SecuredApp.secret), digestAlgorithm: .sha256)
        return try await keys.sign(
            Authenticator.TokenPayload(
                sub: .init(value: "someone"), exp: .init(value: Date().addingTimeInterval(600)), iat: .init(value: Date()),
                iss: .init(value: Authenticator.issuer), tenant: tenant, scope: scope, fleet: fleet))
    }

    @Test func testACredentialOfOneTenantCannotActivateAndOneOfEveryTenantCan() async throws {
        let everyScope = "acme-every-scope-key-0008"
        let app = try await buildApplication(
            configuration: try SecuredApp.configuration(["API_KEYS": SecuredApp.environment["API_KEYS"]! + ";\(everyScope)@acme=*"]))
        let run = try TestApp.servedVector().run_id
        try await app.test(.router) { client in
            // Limited to acme: refused with the reason, whatever the scopes.
            for (name, headers) in [
                ("models:admin key of acme", SecuredApp.Key.admin.headers),
                ("every-scope key of acme", [HTTPField.Name("X-API-Key")!: everyScope]),
                ("token of acme", SecuredApp.bearer(try await Self.token(tenant: "acme", scope: "models:admin", fleet: nil))),
                ("token of acme, fleet false", SecuredApp.bearer(try await Self.token(tenant: "acme", scope: "models:admin", fleet: false))),
            ] {
                let refused = try await Self.activate(client, headers, run: run)
                #expect(refused.status == .forbidden, "\(name): \(refused.status)")
                let error = try Envelope.decode(refused).error
                #expect(error.code == "tenant_limited", "\(name)")
                #expect(error.message.contains("tenant 'acme'") && error.message.contains("KEY@*=models:admin"), "\(name): \(error.message)")
                // Reading the model is the tenant's business: still allowed.
                let read = try await client.execute(uri: "/models/active", method: .get, headers: headers)
                #expect(read.status == .ok, "\(name) reads /models/active")
            }
            // Every tenant: the operator (token and basic), a key written KEY@*, a token saying so.
            let operatorToken = try await SecuredApp.login(client)
            for (name, headers) in [
                ("key of every tenant", SecuredApp.Key.fleetAdmin.headers),
                ("operator's token", SecuredApp.bearer(operatorToken)),
                ("operator's basic credentials", SecuredApp.basic(SecuredApp.operatorName, SecuredApp.operatorPassword)),
                ("token with fleet: true", SecuredApp.bearer(try await Self.token(tenant: "acme", scope: "models:admin", fleet: true))),
            ] {
                let activated = try await Self.activate(client, headers, run: run)
                #expect(activated.status == .ok, "\(name): \(activated.status) \(String(buffer: activated.body).prefix(200))")
            }
            // Without the scope, the scope is what the refusal names.
            let wrongScope = try await Self.activate(client, SecuredApp.Key.predict.headers, run: run)
            #expect(wrongScope.status == .forbidden)
            #expect(try Envelope.decode(wrongScope).error.code == "forbidden")
        }
    }

    @Test func testAKeyOfEveryTenantKeepsItsRowsInTheOperatorsTenant() throws {
        let keys = try APIKey.parse("fleet-key-000000000001@*=models:admin;tenant-key-00000000001@acme=*;plain-key-0000000000001=predict", fleetTenant: "ops").get()
        #expect(keys.map(\.fleetWide) == [true, false, false])
        #expect(keys.map(\.tenant) == ["ops", "acme", "default"])
        #expect(keys.map(\.principal.fleetWide) == [true, false, false])
        #expect(throws: InvalidEntry.self) { try APIKey.parse("bad-tenant-key-0000001@a*=predict").get() }
    }

    @Test func testDevelopmentModeMayActivate() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let run = try TestApp.servedVector().run_id
        try await app.test(.router) { client in
            let activated = try await Self.activate(client, [:], run: run)
            #expect(activated.status == .ok, "\(String(buffer: activated.body).prefix(200))")
        }
    }
}
