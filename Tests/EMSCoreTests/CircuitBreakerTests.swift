import EMSCore
import Foundation
import Testing

@Suite("Circuit breaker and retry policy")
struct CircuitBreakerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func testOpensAfterConsecutiveFailuresProbesAfterTheCooldownAndClosesOnSuccess() {
        var breaker = CircuitBreaker(threshold: 3, cooldown: 10)
        #expect(breaker.decide(now: Self.t0) == .send)
        #expect(breaker.failure(now: Self.t0) == nil)
        #expect(breaker.failure(now: Self.t0) == nil)
        #expect(breaker.success() == nil, "a success resets the count")
        #expect(breaker.failure(now: Self.t0) == nil && breaker.failure(now: Self.t0) == nil)
        #expect(breaker.failure(now: Self.t0) == .open, "the third in a row opens it")
        #expect(breaker.decide(now: Self.t0.addingTimeInterval(9)) == .wait(until: Self.t0.addingTimeInterval(10)))
        #expect(breaker.decide(now: Self.t0.addingTimeInterval(10)) == .probe)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.failure(now: Self.t0.addingTimeInterval(11)) == .open, "a failed probe reopens it")
        #expect(breaker.decide(now: Self.t0.addingTimeInterval(20)) == .wait(until: Self.t0.addingTimeInterval(21)))
        #expect(breaker.decide(now: Self.t0.addingTimeInterval(21)) == .probe)
        #expect(breaker.success() == .closed)
        #expect(breaker.decide(now: Self.t0.addingTimeInterval(21)) == .send)
    }

    @Test func testBackoffDoublesWithJitterUpToTheCapAndRetryAfterIsAFloor() {
        let policy = RetryPolicy(baseDelay: 0.5, maxDelay: 8)
        #expect(policy.delay(attempt: 1, retryAfter: nil, unit: 0) == 0.25)
        #expect(policy.delay(attempt: 1, retryAfter: nil, unit: 0.999_999) < 0.5)
        #expect(policy.delay(attempt: 3, retryAfter: nil, unit: 0) == 1)
        #expect(policy.delay(attempt: 3, retryAfter: nil, unit: 0.5) == 1.5)
        #expect(policy.delay(attempt: 40, retryAfter: nil, unit: 1) == 8, "capped")
        #expect(policy.delay(attempt: 1, retryAfter: 7, unit: 0) == 7)
        #expect(policy.delay(attempt: 40, retryAfter: 2, unit: 0) == 4)
    }

    @Test func testWhatEachAnswerMeans() {
        #expect(RetryPolicy.verdict(status: 201, retryAfter: nil, body: "") == .delivered(duplicate: false))
        #expect(RetryPolicy.verdict(status: 409, retryAfter: nil, body: "") == .delivered(duplicate: true))
        #expect(RetryPolicy.verdict(status: 429, retryAfter: 3, body: "") == .retry(reason: "EMS Core answered 429", retryAfter: 3))
        #expect(RetryPolicy.verdict(status: 408, retryAfter: nil, body: "") == .retry(reason: "EMS Core answered 408", retryAfter: nil))
        #expect(RetryPolicy.verdict(status: 503, retryAfter: nil, body: "") == .retry(reason: "EMS Core answered 503", retryAfter: nil))
        #expect(RetryPolicy.verdict(status: 400, retryAfter: nil, body: "bad severity") == .park(reason: "EMS Core answered 400: bad severity"))
        #expect(RetryPolicy.verdict(status: 422, retryAfter: nil, body: "") == .park(reason: "EMS Core answered 422: "))
    }
}
