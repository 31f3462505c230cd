import Foundation

/// A Python script of Tests/ run from a pinned virtualenv while the test's server serves: its
/// standard output collected as it comes (a full pipe would stall the script), its standard error
/// passed through to the test's log.
enum PythonScript {
    struct Finished: Sendable {
        let status: Int32
        let output: String

        /// The script's findings: the JSON object on its last line of output.
        var findings: [String: Any]? {
            let line = output.split(separator: "\n").last.map(String.init) ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    static func run(python: String, script: String, arguments: [String]) async throws -> Finished {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [TestApp.repoRoot.appendingPathComponent(script).path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let collected = LogBuffer()
        output.fileHandleForReading.readabilityHandler = { collected.append($0.availableData) }
        while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        output.fileHandleForReading.readabilityHandler = nil
        collected.append(output.fileHandleForReading.readDataToEndOfFile())
        return Finished(status: process.terminationStatus, output: collected.text)
    }
}
