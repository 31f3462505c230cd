import ComputeSupport
import Foundation
import Storage
import Testing

@testable import InferenceAPI

@Suite("Security configuration")
struct SecurityConfigurationTests {
    @Test func testAPIKeysAreParsedWithTenantAndScopesAndKeptOnlyHashed() throws {
        let configuration = try Configuration(environment: [
            "API_KEYS": "dashboard-key-1234567890@acme=predict; ems-key-12345678901234=anomaly:write,anomaly:read\n# comment\nall-key-1234567890123@ops=*"
        ])
        #expect(configuration.apiKeys.count == 3)
        #expect(configuration.apiKeys[0].tenant == "acme" && configuration.apiKeys[0].scopes == [.predict])
        #expect(configuration.apiKeys[1].tenant == "default" && configuration.apiKeys[1].scopes == [.anomalyWrite, .anomalyRead])
        #expect(configuration.apiKeys[2].scopes == Set(Scope.allCases))
        #expect(!String(describing: configuration.apiKeys).contains("dashboard-key-1234567890"), "no plain key kept")
        #expect(!configuration.developmentMode)
    }

    @Test(arguments: [
        ("API_KEYS", "short@acme=predict"),
        ("API_KEYS", "long-enough-key-123456@acme"),
        ("API_KEYS", "long-enough-key-123456@acme=predict,fly"),
        ("API_KEYS", "long-enough-key-123456@bad tenant!=predict"),
        ("API_KEYS", "long-enough-key-123456@a=predict;long-enough-key-123456@b=predict"),
        ("JWT_SECRET", "too-short"),
        ("AUTH_USERNAME", "admin"),
        ("METRICS_AUTH", "maybe"),
        ("RATE_LIMIT_ROUTES", "/predict=fast"),
        ("CORS_ORIGINS", "example.com"),
    ])
    func testBadSecurityValuesStopStartUpNamingTheVariable(_ variable: String, _ value: String) {
        do {
            _ = try Configuration(environment: [variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(variable) || error.variable == "JWT_SECRET" || error.variable == "AUTH_PASSWORD")
            if variable == "API_KEYS" { #expect(!error.description.contains("long-enough-key-123456"), "the key is not echoed") }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func testDevelopmentModeRefusesAnythingButLoopback() throws {
        var development = Configuration()
        #expect(development.developmentMode)
        development.host = "127.0.0.1"
        try development.checkExposure()
        development.host = "0.0.0.0"
        #expect(throws: ConfigurationError.self) { try development.checkExposure() }

        var keysOnly = try Configuration(environment: ["API_KEYS": "long-enough-key-123456=predict", "HOST": "0.0.0.0"])
        #expect(throws: ConfigurationError.self) { try keysOnly.checkExposure() }
        keysOnly.jwtSecret = String(repeating: "s", count: 32)
        try keysOnly.checkExposure()
    }

    @Test func testSecretDigestsCompareWholeValues() {
        #expect(SecretDigest("abc").matches(SecretDigest("abc")))
        #expect(!SecretDigest("abc").matches(SecretDigest("abd")))
        #expect(!SecretDigest("").matches(SecretDigest("a")))
    }

    @Test func testRateLimiterRefillsOverTimeAndKeepsCallersApart() {
        let limiter = RateLimiter(perMinute: 60, routes: ["/auth/token": 2])
        let start: UInt64 = 1_000_000_000
        for i in 0..<60 { #expect(limiter.take(caller: "a", pattern: "/predict", now: start).allowed, "request \(i)") }
        let refused = limiter.take(caller: "a", pattern: "/predict", now: start)
        #expect(!refused.allowed && refused.retryAfter == 1 && refused.remaining == 0)
        #expect(limiter.take(caller: "b", pattern: "/predict", now: start).allowed, "another caller has its own bucket")
        #expect(limiter.take(caller: "a", pattern: "/predict", now: start + 1_000_000_000).allowed, "one token per second comes back")
        #expect(limiter.take(caller: "a", pattern: "/auth/token", now: start).allowed, "a route with its own limit has its own bucket")
        #expect(limiter.take(caller: "a", pattern: "/auth/token", now: start).allowed)
        let login = limiter.take(caller: "a", pattern: "/auth/token", now: start)
        #expect(!login.allowed && login.limit == 2 && login.retryAfter == 30)
    }

    @Test func testROCAUCMatchesPairCountingWithTies() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<20 {
            let n = 40
            let scores = (0..<n).map { _ in Double(generator.next() % 10) / 10 }
            let outcomes = (0..<n).map { _ in Int(generator.next() % 2) }
            var wins = 0.0, pairs = 0.0
            for i in 0..<n where outcomes[i] == 1 {
                for j in 0..<n where outcomes[j] == 0 {
                    pairs += 1
                    wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0
                }
            }
            let auc = ClassificationMetrics.rocAUC(scores, outcomes)
            if pairs == 0 { #expect(auc == nil) } else { #expect(abs(auc! - wins / pairs) < 1e-12) }
        }
        let metrics = ClassificationMetrics(probabilities: [0.9, 0.8, 0.2, 0.6], outcomes: [1, 0, 0, 1], threshold: 0.5)
        #expect(metrics.true_positives == 2 && metrics.false_positives == 1 && metrics.true_negatives == 1 && metrics.false_negatives == 0)
        #expect(metrics.precision == 2.0 / 3 && metrics.recall == 1)
    }
}
