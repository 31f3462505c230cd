import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InferenceAPI

/// A server with every kind of credential configured, read through `Configuration(environment:)`
/// like the executable reads it.
enum SecuredApp {
    static let secret = "0123456789abcdef0123456789abcdef-test-secret"
    static let operatorName = "operator"
    static let operatorPassword = "correct horse battery staple"

    /// Keys by what they may do; tenant `acme` unless the name says `globex` or `fleet` (every
    /// tenant, its own rows `acme`'s, the operator's tenant).
    enum Key: String, CaseIterable {
        case predict = "predict-key-0000000001"
        case anomalyWriter = "ems-writer-key-000000002"
        case globexWriter = "ems-writer-key-globex-0003"
        case anomalyReader = "ems-reader-key-000000004"
        case metrics = "metrics-key-0000000000005"
        case admin = "admin-key-00000000000006"
        case fleetAdmin = "fleet-admin-key-000000007"

        var entry: String {
            switch self {
            case .predict: "\(rawValue)@acme=predict"
            case .anomalyWriter: "\(rawValue)@acme=anomaly:write,anomaly:read"
            case .globexWriter: "\(rawValue)@globex=anomaly:write anomaly:read"
            case .anomalyReader: "\(rawValue)@acme=anomaly:read"
            case .metrics: "\(rawValue)@acme=metrics:read"
            case .admin: "\(rawValue)@acme=models:admin"
            case .fleetAdmin: "\(rawValue)@*=models:admin"
            }
        }

        var headers: HTTPFields { [.contentType: "application/json", HTTPField.Name("X-API-Key")!: rawValue] }
    }

    static var environment: [String: String] {
        [
            "JWT_SECRET": secret, "AUTH_USERNAME": operatorName, "AUTH_PASSWORD": operatorPassword, "AUTH_TENANT": "acme",
            "API_KEYS": Key.allCases.map(\.entry).joined(separator: ";"),
            "METRICS_USERNAME": "prometheus", "METRICS_PASSWORD": "scrape-secret-1234",
        ]
    }

    static func configuration(_ extra: [String: String] = [:], _ change: (inout Configuration) -> Void = { _ in }) throws -> Configuration {
        var configuration = try Configuration(environment: environment.merging(extra) { _, new in new })
        // No gRPC listener unless a test asks for one (GRPC_PORT's default would have every test take 8081).
        configuration.grpcPort = nil
        configuration.mlrunsDirectory = TestApp.repoRoot.appendingPathComponent("mlruns").path
        configuration.sqlitePath = ":memory:"
        configuration.port = 0
        configuration.logLevel = .warning
        change(&configuration)
        return configuration
    }

    static func bearer(_ token: String) -> HTTPFields {
        [.contentType: "application/json", .authorization: "Bearer \(token)"]
    }

    static func basic(_ user: String, _ password: String) -> HTTPFields {
        [.authorization: "Basic \(Data("\(user):\(password)".utf8).base64EncodedString())"]
    }

    /// Logs in as the operator and returns the token.
    static func login(_ client: some TestClientProtocol) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["username": operatorName, "password": operatorPassword])
        let response = try await client.execute(uri: "/auth/token", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: body))
        let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        guard response.status == .ok, let token = object?["access_token"] as? String else {
            throw TestFailure("login answered \(response.status): \(String(buffer: response.body))")
        }
        return token
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
