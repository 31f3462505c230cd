/// What a caller may do. Each route needs at most one scope (see `AccessPolicy`).
public enum Scope: String, Sendable, CaseIterable, Codable, Comparable {
    case predict
    case anomalyWrite = "anomaly:write"
    case anomalyRead = "anomaly:read"
    case modelsAdmin = "models:admin"
    case metricsRead = "metrics:read"

    public static func < (a: Scope, b: Scope) -> Bool { a.rawValue < b.rawValue }

    /// Parses `"predict,anomaly:read"` (commas or spaces); `*` means every scope.
    static func parseList(_ text: some StringProtocol) -> Result<Set<Scope>, InvalidEntry> {
        var scopes = Set<Scope>()
        for name in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !name.isEmpty {
            if name == "*" {
                scopes.formUnion(Scope.allCases)
            } else if let scope = Scope(rawValue: String(name)) {
                scopes.insert(scope)
            } else {
                return .failure(InvalidEntry("unknown scope '\(name)' (known: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")), or *)"))
            }
        }
        return .success(scopes)
    }
}

/// The authenticated caller of a request: who (for logs and rate limits, never a secret), which
/// tenant's anomaly rows it sees, and what it may do.
public struct Principal: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A JWT from `POST /auth/token` (or another issuer sharing `JWT_SECRET`).
        case token
        /// A machine client's API key.
        case apiKey = "api_key"
        /// The operator or the metrics scraper with HTTP basic credentials.
        case basic
        /// Nothing is configured: the development mode, loopback only, everything allowed.
        case development
    }

    public let id: String
    public let kind: Kind
    public let tenant: String
    public let scopes: Set<Scope>
    /// May change what every tenant is served (activating a model): the operator, development
    /// mode, and API keys of every tenant (`KEY@*=...`). A credential of one tenant may not,
    /// whatever its scopes: a tenant's admin key is not the fleet's.
    public let fleetWide: Bool

    public init(id: String, kind: Kind, tenant: String, scopes: Set<Scope>, fleetWide: Bool = false) {
        self.id = id
        self.kind = kind
        self.tenant = tenant
        self.scopes = scopes
        self.fleetWide = fleetWide
    }

    public func allows(_ scope: Scope) -> Bool { scopes.contains(scope) }

    static func development(tenant: String) -> Principal {
        Principal(id: "development", kind: .development, tenant: tenant, scopes: everyScope, fleetWide: true)
    }

    static let everyScope = Set(Scope.allCases)
}

/// Why a configured entry (an API key line, a scope list) is refused; never holds the secret.
struct InvalidEntry: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}
