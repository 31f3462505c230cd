import Crypto
import Foundation
import HTTPTypes

/// Secrets compared by SHA-256 digest in constant time, so the plain text is not kept once
/// start-up has hashed it and a comparison's time says nothing about where two secrets differ.
struct SecretDigest: Sendable, Hashable {
    let bytes: [UInt8]

    init(_ secret: some StringProtocol) {
        bytes = Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Constant-time equality: every byte is looked at whatever the first difference.
    func matches(_ other: SecretDigest) -> Bool {
        guard bytes.count == other.bytes.count else { return false }
        var difference: UInt8 = 0
        for i in bytes.indices { difference |= bytes[i] ^ other.bytes[i] }
        return difference == 0
    }

    /// A short, non-reversible label for logs and rate-limit keys.
    var label: String { bytes.prefix(4).map { String(format: "%02x", $0) }.joined() }
}

/// One machine client's API key, as configured: only its digest is kept.
public struct APIKey: Sendable {
    let digest: SecretDigest
    public let tenant: String
    public let scopes: Set<Scope>
    /// Written `KEY@*=...`: a key of every tenant (see `Principal.fleetWide`).
    public let fleetWide: Bool

    /// Made once: every request with this key is this principal.
    let principal: Principal

    init(digest: SecretDigest, tenant: String, scopes: Set<Scope>, fleetWide: Bool = false) {
        self.digest = digest
        self.tenant = tenant
        self.scopes = scopes
        self.fleetWide = fleetWide
        self.principal = Principal(id: "key:\(digest.label)", kind: .apiKey, tenant: tenant, scopes: scopes, fleetWide: fleetWide)
    }

    /// Keys shorter than this are refused at start-up: they would be guessable.
    static let minimumLength = 16

    /// Parses `API_KEYS` / the lines of `API_KEYS_FILE`: entries `KEY@TENANT=SCOPE,SCOPE`
    /// separated by `;` or new lines; `@TENANT` may be left out (tenant `default`); `#` starts a
    /// comment line. `*` as the scope list grants every scope; `*` as the tenant makes a key of
    /// every tenant (fleet-wide changes allowed), whose own rows are `fleetTenant`'s.
    /// - Returns: the keys, or the reason the first bad entry is bad (without the key itself).
    static func parse(_ text: String, fleetTenant: String = "default") -> Result<[APIKey], InvalidEntry> {
        var keys: [APIKey] = []
        let entries = text.split(whereSeparator: { $0 == ";" || $0 == "\n" || $0 == "\r" })
        for (number, raw) in entries.enumerated() {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            let position = "entry \(number + 1)"
            guard let equals = entry.firstIndex(of: "=") else {
                return .failure(InvalidEntry("\(position) has no scopes: write KEY@TENANT=SCOPE,SCOPE"))
            }
            let identity = entry[..<equals]
            let key: Substring
            let tenant: String
            if let at = identity.firstIndex(of: "@") {
                key = identity[..<at]
                tenant = String(identity[identity.index(after: at)...])
            } else {
                key = identity
                tenant = "default"
            }
            guard key.count >= minimumLength, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .failure(InvalidEntry("\(position): keys must be at least \(minimumLength) printable characters without spaces"))
            }
            let fleetWide = tenant == "*"
            guard fleetWide || Tenant.isValid(tenant) else {
                return .failure(InvalidEntry("\(position): tenant '\(tenant)' must be 1-64 letters, digits, '-', '_' or '.' (or * for every tenant)"))
            }
            switch Scope.parseList(entry[entry.index(after: equals)...]) {
            case .failure(let invalid):
                return .failure(InvalidEntry("\(position): \(invalid.message)"))
            case .success(let scopes) where scopes.isEmpty:
                return .failure(InvalidEntry("\(position) grants no scope"))
            case .success(let scopes):
                let digest = SecretDigest(key)
                guard !keys.contains(where: { $0.digest == digest }) else {
                    return .failure(InvalidEntry("\(position) repeats a key"))
                }
                keys.append(APIKey(digest: digest, tenant: fleetWide ? fleetTenant : tenant, scopes: scopes, fleetWide: fleetWide))
            }
        }
        return .success(keys)
    }
}

/// A username and password (the operator, or the metrics scraper), kept as digests.
public struct BasicCredentials: Sendable {
    let username: SecretDigest
    let password: SecretDigest
    let principal: Principal

    init(username: String, password: String, principal: Principal) {
        self.username = SecretDigest(username)
        self.password = SecretDigest(password)
        self.principal = principal
    }

    /// Both parts are compared in full, so a wrong username costs the same time as a wrong password.
    func matches(username given: String, password givenPassword: String) -> Bool {
        let userMatches = username.matches(SecretDigest(given))
        let passwordMatches = password.matches(SecretDigest(givenPassword))
        return userMatches && passwordMatches
    }
}

enum Tenant {
    static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
            }
    }
}
