import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import Storage

/// Turns the credentials of a request (a bearer JWT, an `X-API-Key`, or HTTP basic) into a
/// `Principal`, and issues tokens for `POST /auth/token`. Built once from the configuration.
struct Authenticator: Sendable {
    /// What a request presented, when it presented something that does not authenticate.
    enum Failure: Error, Equatable {
        case malformed(String)
        case invalid(String)
        /// Too many failed password checks for this username or address (`LoginThrottle`).
        case throttled(retryAfter: Int)
    }

    /// The claims of our tokens: subject, tenant, space-separated scopes (RFC 8693 `scope`), and
    /// `fleet` when the holder may change fleet-wide state (`Principal.fleetWide`; absent: not).
    struct TokenPayload: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var iat: IssuedAtClaim
        var iss: IssuerClaim
        var tenant: String
        var scope: String
        var fleet: Bool? = nil

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            guard iss.value == Authenticator.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "unknown issuer") }
        }
    }

    struct Token: Sendable {
        let value: String
        let expiresIn: Int
        let scopes: Set<Scope>
    }

    static let issuer = "inference-api"

    /// Set in development mode: every request is this principal.
    let developmentPrincipal: Principal?
    let keys: JWTKeyCollection?
    let tokenLifetime: Int
    let apiKeys: [SecretDigest: APIKey]
    let basic: [BasicCredentials]
    /// The operator who may log in at `POST /auth/token`.
    let operatorCredentials: BasicCredentials?
    let throttle: LoginThrottle

    init(configuration: Configuration, loginFailures: any LoginFailureStore = MemoryLoginFailureStore()) async {
        developmentPrincipal = configuration.developmentMode ? .development(tenant: configuration.authTenant) : nil
        tokenLifetime = configuration.tokenLifetimeSeconds
        throttle = LoginThrottle(maxFailures: configuration.loginMaxFailures, windowSeconds: configuration.loginWindowSeconds, store: loginFailures)
        if let secret = configuration.jwtSecret {
            keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        } else {
            keys = nil
        }
        apiKeys = Dictionary(configuration.apiKeys.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
        var basic: [BasicCredentials] = []
        if let user = configuration.authUsername, let password = configuration.authPassword {
            let principal = Principal(
                id: "user:\(SecretDigest(user).label)", kind: .basic, tenant: configuration.authTenant, scopes: Set(Scope.allCases), fleetWide: true)
            operatorCredentials = BasicCredentials(username: user, password: password, principal: principal)
            basic.append(operatorCredentials!)
        } else {
            operatorCredentials = nil
        }
        if let user = configuration.metricsUsername, let password = configuration.metricsPassword {
            let principal = Principal(id: "metrics:\(SecretDigest(user).label)", kind: .basic, tenant: configuration.authTenant, scopes: [.metricsRead])
            basic.append(BasicCredentials(username: user, password: password, principal: principal))
        }
        self.basic = basic
    }

    /// The principal of `request`: nil when it carries no credentials (anonymous).
    /// - Throws: `Failure` when it carries credentials that are malformed, unknown or expired.
    /// `address` names the client for the login throttle (formatted only for a password check).
    func principal(of request: Request, address: @autoclosure () -> String) async throws(Failure) -> Principal? {
        try await principal(apiKey: request.headers[.apiKey], authorization: request.headers[.authorization], address: address())
    }

    /// The principal of a call's credentials, wherever they came from (HTTP headers, gRPC
    /// metadata): an API key, or an `Authorization` value (`Bearer <token or key>`, `Basic ...`).
    func principal(apiKey: String?, authorization: String?, address: @autoclosure () -> String) async throws(Failure) -> Principal? {
        // Development mode: nothing is configured to check credentials against, so none are.
        if let developmentPrincipal { return developmentPrincipal }
        // One credential per request: a valid key next to a bad token must not pass.
        if apiKey != nil, authorization != nil {
            throw .malformed("send one credential: either Authorization or X-API-Key, not both")
        }
        if let key = apiKey {
            guard let entry = apiKeys[SecretDigest(key)] else { throw .invalid("the API key is not valid") }
            return entry.principal
        }
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { throw .malformed("the Authorization header must be 'Bearer <token>' or 'Basic <credentials>'") }
        let credentials = String(parts[1]).trimmingCharacters(in: .whitespaces)
        switch parts[0].lowercased() {
        case "bearer":
            return try await bearer(credentials)
        case "basic":
            return try await basicPrincipal(credentials, address: address())
        default:
            throw .malformed("the Authorization scheme must be Bearer or Basic")
        }
    }

    private func bearer(_ token: String) async throws(Failure) -> Principal {
        // An API key may also be sent as a bearer token (clients that only know bearer auth).
        if let entry = apiKeys[SecretDigest(token)] { return entry.principal }
        guard let keys else { throw .invalid("bearer tokens are not accepted: JWT_SECRET is not configured") }
        let payload: TokenPayload
        do {
            payload = try await keys.verify(token, as: TokenPayload.self)
        } catch {
            throw .invalid("the token is invalid or expired")
        }
        guard Tenant.isValid(payload.tenant), case .success(let scopes) = Scope.parseList(payload.scope) else {
            throw .invalid("the token's tenant or scopes are not valid")
        }
        // The same id as HTTP Basic gives the same user: one person, one rate-limit allowance.
        return Principal(
            id: "user:\(SecretDigest(payload.sub.value).label)", kind: .token, tenant: payload.tenant, scopes: scopes, fleetWide: payload.fleet ?? false)
    }

    private func basicPrincipal(_ encoded: String, address: String) async throws(Failure) -> Principal {
        guard let data = Data(base64Encoded: encoded), let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else {
            throw .malformed("basic credentials must be base64 of 'username:password'")
        }
        let user = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        if let wait = await throttle.lockedFor(username: user, address: address) { throw .throttled(retryAfter: wait) }
        // Every configured pair is compared, so timing does not tell which user exists.
        var found: Principal?
        for credentials in basic where credentials.matches(username: user, password: password) { found = credentials.principal }
        guard let found else {
            await throttle.recordFailure(username: user, address: address)
            throw .invalid("the username or password is not valid")
        }
        return found
    }

    /// Issues a token for the operator; nil when the username or password is wrong.
    /// - Throws: `Failure.throttled` past the login throttle (the password is not checked then).
    func login(username: String, password: String, address: String) async throws -> Token? {
        guard let operatorCredentials, let keys else { return nil }
        if let wait = await throttle.lockedFor(username: username, address: address) { throw Failure.throttled(retryAfter: wait) }
        guard operatorCredentials.matches(username: username, password: password) else {
            await throttle.recordFailure(username: username, address: address)
            return nil
        }
        let now = Date()
        let principal = operatorCredentials.principal
        let payload = TokenPayload(
            sub: .init(value: username), exp: .init(value: now.addingTimeInterval(Double(tokenLifetime))), iat: .init(value: now),
            iss: .init(value: Self.issuer), tenant: principal.tenant, scope: principal.scopes.sorted().map(\.rawValue).joined(separator: " "),
            fleet: principal.fleetWide ? true : nil)
        return Token(value: try await keys.sign(payload), expiresIn: tokenLifetime, scopes: principal.scopes)
    }

    /// Whether `POST /auth/token` can issue tokens.
    var issuesTokens: Bool { operatorCredentials != nil && keys != nil }
}

extension HTTPField.Name {
    static let apiKey = Self("X-API-Key")!
}
