import Foundation
import Testing

@testable import InferenceAPI

/// The server unmaps start-up's code pages once it listens (`CodePages`): the executable file
/// mappings' resident pages go, and the code they hold runs again (mapped back on use).
@Suite("Code pages")
struct CodePagesTests {
    /// Resident kB of executable file mappings, from /proc/self/smaps.
    static func residentCodeKB() throws -> Int {
        let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var total = 0
        var inCode = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":") {
                inCode = fields.count >= 6 && fields[1] == "r-xp" && fields[5].hasPrefix("/")
            } else if inCode, fields.first == "Rss:", fields.count >= 2, let kB = Int(fields[1]) {
                total += kB
            }
        }
        return total
    }

    @Test func testStartupCodeIsUnmappedAndStillRuns() throws {
        let before = try Self.residentCodeKB()
        let released = CodePages.releaseStartupPages()
        let after = try Self.residentCodeKB()
        #expect(released > 1 << 20, "the test binary and its libraries are mapped executable")
        #expect(after < before, "resident code \(before) kB before, \(after) kB after")
        // Code whose pages were dropped runs again: Foundation's and this binary's.
        let text = String(decoding: try JSONEncoder().encode(["k": 1.5]), as: UTF8.self)
        #expect(text == #"{"k":1.5}"#)
    }
}
