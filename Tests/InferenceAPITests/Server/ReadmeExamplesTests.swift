import Foundation
import Testing

/// The README's curl examples, run in order against the real server as `make run` starts it
/// (issue 25 item 5): each gets the status and the answer the README shows
/// (`Tests/Hostile/readme_examples.py` reads the expectations from the README itself), and the
/// security block's script against a server started with the credentials it exports.
@Suite("README examples", .timeLimit(.minutes(5)))
struct ReadmeExamplesTests {
    @Test func testEveryCurlExampleAnswersWhatTheReadmeShows() async throws {
        let directory = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = try await ServerProcess.python(
            "readme_examples.py",
            [ServerProcess.executable.path, TestApp.repoRoot.appendingPathComponent("mlruns").path, "--log", directory.appendingPathComponent("server.log").path])
        let commands = report["commands"] as? [[String: Any]] ?? []
        let failures = report["failures"] as? [[String: Any]] ?? [["problems": ["no report"]]]
        #expect(commands.count >= 15, "the README's examples were found: \(commands.count)")
        #expect(failures.isEmpty, "\(failures)")
        // The security block ran against a server started with what it exports.
        let secured = report["secured"] as? [String: Any] ?? [:]
        #expect(secured["status"] as? Int == 0 && (secured["problems"] as? [String])?.isEmpty == true, "\(secured)")
        // Only the swap block's `kill -HUP <pid>` line is left out.
        let trimmed = report["left_out"] as? [String] ?? []
        #expect(trimmed.count == 1, "\(trimmed)")
        print("README examples: \(commands.count) curl commands run, and the security block's script; \(failures.count) failing; trimmed: \(trimmed)")
    }
}
