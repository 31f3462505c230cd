import ComputeSupport
import Foundation
import Testing

@Suite("Retry-After")
struct RetryAfterTests {
    @Test func testSecondsDatesAndWhatIsNotOne() {
        #expect(RetryAfter.seconds("5") == 5)
        #expect(RetryAfter.seconds(" 2 ") == 2)
        #expect(RetryAfter.seconds("soon") == nil)
        #expect(RetryAfter.seconds(nil) == nil)
        #expect(RetryAfter.seconds("-3") == nil)
        #expect(RetryAfter.seconds("nan") == nil)
        #expect(RetryAfter.seconds("1e12") == 3600, "capped at an hour")
        #expect(RetryAfter.seconds("90", cap: 60) == 60)
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryAfter.seconds("Wed, 21 Oct 2015 07:28:30 GMT", now: now) == 30)
        #expect(RetryAfter.seconds("Wed, 21 Oct 2015 07:27:00 GMT", now: now) == 0, "a date past is now")
    }
}
