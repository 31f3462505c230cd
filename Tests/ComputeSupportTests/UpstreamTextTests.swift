import ComputeSupport
import Testing

/// Upstream bodies repeated in answers and logs: no control character, no line break that could
/// forge a log line, at most `limit` characters.
@Suite("Upstream text")
struct UpstreamTextTests {
    @Test func testControlCharactersAndLineBreaksBecomeOneSpace() {
        #expect(UpstreamText.excerpt("bad\nlevel=error msg=forged") == "bad level=error msg=forged")
        #expect(UpstreamText.excerpt("  a\r\n\t\u{0}\u{1B}[31mred\u{1B}[0m  b  ") == "a [31mred [0m b")
        #expect(UpstreamText.excerpt("zero\u{200B}width") == "zero width", "format characters too")
        #expect(UpstreamText.excerpt("<h1>502 Bad Gateway</h1>") == "<h1>502 Bad Gateway</h1>", "text stays text; answers escape it as JSON")
        #expect(UpstreamText.excerpt("") == "")
    }

    @Test func testLongTextIsCutAtTheLimit() {
        let cut = UpstreamText.excerpt(String(repeating: "é", count: 5000), limit: 200)
        #expect(cut.count == 201 && cut.hasSuffix("…"))
        #expect(UpstreamText.excerpt(String(repeating: "x", count: 200), limit: 200).count == 200, "exactly the limit is not cut")
        let words = UpstreamText.excerpt(String(repeating: "ab ", count: 1000), limit: 10)
        #expect(words == "ab ab ab a…", "\(words)")
    }
}
