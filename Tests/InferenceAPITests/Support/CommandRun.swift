import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `inference-api` with arguments and an environment, until it exits (interrupted
/// after `timeout` seconds): its exit status, what it printed and how long it took.
struct CommandRun {
    let status: Int32
    let stdout: String
    let stderr: String
    let seconds: Double

    /// `init` on a GCD thread: the run polls until the process ends, and an async test that waited
    /// for it on the Swift concurrency pool would hold one of its few threads (two on a 2-core
    /// machine) from every other suite meanwhile.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil, timeout: Double = 40) async throws -> CommandRun {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try CommandRun(arguments, environment: environment, directory: directory, timeout: timeout) })
            }
        }
    }

    /// The last line on stderr (the verdict; the lines above it are the server's own logs).
    var verdict: String { stderr.split(separator: "\n").last.map(String.init) ?? "" }

    init(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil, timeout: Double = 40) throws {
        let process = Process()
        process.executableURL = ServerProcess.executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("command-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        process.environment = [
            "PATH": "/usr/bin:/bin", "MLRUNS_DIR": TestApp.repoRoot.appendingPathComponent("mlruns").path, "GRPC_PORT": "0",
            "SQLITE_PATH": scratch.appendingPathComponent("s.sqlite").path,
        ].merging(environment) { $1 }
        let out = Pipe(), errors = Pipe()
        let outText = LogBuffer(), errorText = LogBuffer()
        out.fileHandleForReading.readabilityHandler = { outText.append($0.availableData) }
        errors.fileHandleForReading.readabilityHandler = { errorText.append($0.availableData) }
        process.standardOutput = out
        process.standardError = errors
        let started = Date()
        try process.run()
        while process.isRunning, Date().timeIntervalSince(started) < timeout { usleep(20_000) }
        if process.isRunning {
            process.interrupt()
            process.waitUntilExit()
            throw TestFailure("\(arguments.joined(separator: " ")): still running after \(timeout) s: \(errorText.text.suffix(1000))")
        }
        process.waitUntilExit()
        usleep(50_000)
        out.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
        outText.append(out.fileHandleForReading.readDataToEndOfFile())
        errorText.append(errors.fileHandleForReading.readDataToEndOfFile())
        status = process.terminationStatus
        stdout = outText.text
        stderr = errorText.text
        seconds = Date().timeIntervalSince(started)
    }
}
