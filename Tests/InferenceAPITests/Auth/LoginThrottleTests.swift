import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// One throttle for every password check: Basic guesses and token logins count together, a
/// locked-out username gets 429 even with the right password, and a valid API key neither
/// bypasses the lock for passwords nor is refused itself.
@Suite("Login throttle")
struct LoginThrottleTests {
    @Test func testBasicGuessesAndTokenLoginsShareOneThrottle() async throws {
        let configuration = try SecuredApp.configuration(["LOGIN_MAX_FAILURES": "5", "LOGIN_WINDOW_SECONDS": "600"])
        let app = try await buildApplication(configuration: configuration)
        try await app.test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for k in 0..<4 {
                let guess = try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.basic(SecuredApp.operatorName, "guess-\(k)"))
                statuses.append(guess.status)
            }
            let login = try JSONSerialization.data(withJSONObject: ["username": SecuredApp.operatorName, "password": "guess-4"])
            let fifth = try await client.execute(uri: "/auth/token", method: .post, headers: TestApp.json, body: ByteBuffer(bytes: login))
            statuses.append(fifth.status)
            #expect(statuses == Array(repeating: .unauthorized, count: 5), "\(statuses)")
            // Locked: the right password is refused too, on both paths, with the wait to retry.
            let right = try await client.execute(
                uri: "/models/active", method: .get, headers: SecuredApp.basic(SecuredApp.operatorName, SecuredApp.operatorPassword))
            #expect(right.status == .tooManyRequests)
            #expect(Int(right.headers[.retryAfter] ?? "") ?? 0 > 500)
            let token = try await client.execute(
                uri: "/auth/token", method: .post, headers: TestApp.json,
                body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["username": SecuredApp.operatorName, "password": SecuredApp.operatorPassword])))
            let code = try Envelope.decode(token).error.code
            #expect(token.status == .tooManyRequests && code == "login_throttled")
            // A valid key still works, and does not lift the lock.
            let keyed = try await client.execute(uri: "/models/active", method: .get, headers: SecuredApp.Key.admin.headers)
            #expect(keyed.status == .ok)
            let still = try await client.execute(
                uri: "/models/active", method: .get, headers: SecuredApp.basic(SecuredApp.operatorName, SecuredApp.operatorPassword))
            #expect(still.status == .tooManyRequests)
        }
    }

    @Test func testTheLockCountsUsernameAndAddressApartAndExpires() async throws {
        let throttle = LoginThrottle(maxFailures: 3, windowSeconds: 1, store: MemoryLoginFailureStore())
        for user in ["a", "b", "c"] { await throttle.recordFailure(username: user, address: "10.0.0.1") }
        #expect(await throttle.lockedFor(username: "z", address: "10.0.0.1") != nil, "one address guessing many usernames")
        #expect(await throttle.lockedFor(username: "a", address: "10.0.0.2") == nil, "another address, a username with one failure")
        for address in ["10.0.0.3", "10.0.0.4", "10.0.0.5"] { await throttle.recordFailure(username: "ops", address: address) }
        #expect(await throttle.lockedFor(username: "ops", address: "10.0.0.9") != nil, "one username guessed from many addresses")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await throttle.lockedFor(username: "ops", address: "10.0.0.9") == nil)
        #expect(await throttle.lockedFor(username: "z", address: "10.0.0.1") == nil)
    }
}
