import Artifacts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// Access is declared in code where each controller mounts its routes; the OpenAPI document's
/// `x-access` documents it. This reads every route from the router itself and checks that what
/// it enforces is what the document says: a route mounted without a declaration behaves as a
/// probe, and fails here unless it is documented as one.
@Suite("Route access")
struct RouteAccessTests {
    /// Per scope: a key that lacks it, and a key that has it (`SecuredApp`'s keys).
    static let keys: [Scope: (without: SecuredApp.Key, with: SecuredApp.Key)] = [
        .predict: (.admin, .predict), .modelsAdmin: (.predict, .admin), .anomalyWrite: (.anomalyReader, .anomalyWriter),
        .anomalyRead: (.predict, .anomalyReader), .metricsRead: (.predict, .metrics),
    ]

    /// Per scope: a key of every tenant (`KEY@*=`) that has it, for the fleet-wide routes.
    static let fleetKeys: [Scope: SecuredApp.Key] = [.modelsAdmin: .fleetAdmin]
    static let fleetWideSuffix = " (fleet-wide)"

    /// A concrete path for a route pattern.
    static func concrete(_ pattern: String, runId: String) -> String {
        pattern.replacingOccurrences(of: "{asset_id}", with: "router-1").replacingOccurrences(of: "{name}", with: "battery-hazard")
            .replacingOccurrences(of: "{version}", with: runId)
    }

    @Test func testEveryRouteEnforcesItsDocumentedAccess() async throws {
        let models = ModelService(
            store: try MLflowStore(root: TestApp.repoRoot.appendingPathComponent("mlruns")), configuredReference: nil, selectMetric: "roc_auc")
        let model = try await models.activate(try await models.startupReference())
        let router = buildRouter(services: await AppServices(configuration: try SecuredApp.configuration(), models: models, stores: .memory()))
        let documented = OpenAPIDocument.documentedAccess
        let routes = router.routes.map { (method: $0.method, pattern: $0.path.description) }
        #expect(routes.count >= 26)
        try await Application(router: router).test(.router) { client in
            for route in routes {
                let key = "\(route.method.rawValue) \(route.pattern)"
                guard let access = documented[key] else {
                    Issue.record("\(key) is routed but has no x-access in Resources/openapi.json")
                    continue
                }
                let uri = Self.concrete(route.pattern, runId: model.runId)
                let body = route.method == .post ? ByteBuffer(string: "{}") : nil
                let anonymous = try await client.execute(uri: uri, method: route.method, headers: TestApp.json, body: body)
                let limited = anonymous.headers[HTTPField.Name("RateLimit-Limit")!] != nil
                switch access {
                case "probe":
                    #expect(anonymous.status != .unauthorized && !limited, "\(key): a probe answers without credentials and is never limited")
                case "open":
                    #expect(anonymous.status != .unauthorized && limited, "\(key): open routes answer without credentials, rate limited")
                default:
                    // "SCOPE", or "SCOPE (fleet-wide)": the scope from a credential of every tenant.
                    let fleetWide = access.hasSuffix(Self.fleetWideSuffix)
                    let name = fleetWide ? String(access.dropLast(Self.fleetWideSuffix.count)) : access
                    let scope = try #require(Scope(rawValue: name), "\(key): x-access '\(access)' is not a scope")
                    let pair = try #require(Self.keys[scope])
                    #expect(anonymous.status == .unauthorized, "\(key): no credentials -> 401, got \(anonymous.status)")
                    let without = try await client.execute(uri: uri, method: route.method, headers: pair.without.headers, body: body)
                    #expect(without.status == .forbidden, "\(key): a key without \(scope.rawValue) -> 403, got \(without.status)")
                    let with = try await client.execute(uri: uri, method: route.method, headers: pair.with.headers, body: body)
                    if fleetWide {
                        #expect(with.status == .forbidden, "\(key): a key of one tenant with \(scope.rawValue) -> 403, got \(with.status)")
                        #expect(String(buffer: with.body).contains("tenant_limited"), "\(key): \(String(buffer: with.body))")
                        let fleet = try #require(Self.fleetKeys[scope])
                        let passed = try await client.execute(uri: uri, method: route.method, headers: fleet.headers, body: body)
                        #expect(passed.status != .unauthorized && passed.status != .forbidden, "\(key): a key of every tenant passes, got \(passed.status)")
                    } else {
                        #expect(with.status != .unauthorized && with.status != .forbidden, "\(key): a key with \(scope.rawValue) passes, got \(with.status)")
                    }
                    #expect(with.headers[HTTPField.Name("RateLimit-Limit")!] != nil, "\(key): rate limited")
                }
            }
        }
    }
}
