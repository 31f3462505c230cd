import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The real `inference-api serve`, started for a test on a free loopback port with its own
/// SQLite file (unless the environment names a database), logs collected, stopped at the end.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let logs = LogBuffer()
    let directory: URL

    /// The `inference-api` binary built beside this test bundle (`swift build` builds both), or
    /// `INFERENCE_API_BINARY` (a release build, for measurements).
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["INFERENCE_API_BINARY"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("inference-api")
    }

    init(environment: [String: String] = [:]) async throws {
        let binary = Self.executable
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build the executable first (swift build): \(binary.path)")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process.executableURL = binary
        process.arguments = ["serve", "--port", "0", "--mlruns", TestApp.repoRoot.appendingPathComponent("mlruns").path]
        process.environment = ["SQLITE_PATH": directory.appendingPathComponent("s.sqlite").path, "LOG_FORMAT": "json", "PATH": "/usr/bin:/bin", "GRPC_PORT": "0"]
            .merging(environment) { $1 }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        // Read on a background thread for the whole run, so the server never blocks writing logs.
        let logs = self.logs
        pipe.fileHandleForReading.readabilityHandler = { logs.append($0.availableData) }
        try process.run()

        // The port, from the "listening on" log line (JSON escapes the slashes). A debug server
        // starts in about a second alone, but took over 30 s once in a loaded parallel pass: the
        // wait only bounds a server that never starts.
        var found: Int?
        let deadline = Date().addingTimeInterval(90)
        while found == nil, Date() < deadline, process.isRunning {
            let seen = logs.text
            if let range = seen.range(of: #"listening on https?:(\\?/){2}127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                found = Int(seen[range].split(separator: ":").last ?? "")
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        guard let found else {
            process.terminate()
            throw TestFailure("the server did not start: \(logs.text.prefix(2000))")
        }
        port = found
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Resident and peak resident memory, in MB, from /proc.
    var memoryMB: (rss: Double, peak: Double) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return -1 }
            return (Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1) / 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// `GET path` on loopback; the body as text, "" when the server does not answer.
    func get(_ path: String) async -> String {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)"), let (data, _) = try? await URLSession.shared.data(from: url) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs `python3 Tests/Hostile/hostile_clients.py <arguments>` against this server; its JSON answer.
    func hostileClients(_ arguments: [String]) async throws -> [String: Any] {
        try await Self.python("hostile_clients.py", [arguments[0], String(port)] + arguments.dropFirst())
    }

    /// Runs `python3 Tests/Hostile/<script> <arguments>` (under a throwaway PostgreSQL cluster of
    /// its own with `ownPostgres`); the JSON object it prints. The script runs for up to minutes,
    /// so it is waited for on a GCD thread: waiting on the Swift concurrency pool (two threads on a
    /// 2-core machine) would stall every other task of the test process meanwhile.
    static func python(_ name: String, _ arguments: [String], ownPostgres: Bool = false) async throws -> [String: Any] {
        let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SendableJSON, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { SendableJSON(object: try runPython(name, arguments, ownPostgres: ownPostgres)) })
            }
        }
        return result.object
    }

    /// A script's JSON object, handed from the GCD thread that waited for it.
    private struct SendableJSON: @unchecked Sendable { let object: [String: Any] }

    private static func runPython(_ name: String, _ arguments: [String], ownPostgres: Bool) throws -> [String: Any] {
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        script.arguments = (ownPostgres ? [TestApp.repoRoot.appendingPathComponent("scripts/with-postgres.sh").path] : [])
            + ["python3", TestApp.repoRoot.appendingPathComponent("Tests/Hostile/\(name)").path] + arguments
        let output = Pipe(), errors = Pipe()
        script.standardOutput = output
        script.standardError = errors
        let errorText = LogBuffer()
        errors.fileHandleForReading.readabilityHandler = { errorText.append($0.availableData) }
        try script.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        script.waitUntilExit()
        errors.fileHandleForReading.readabilityHandler = nil
        guard script.terminationStatus == 0, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestFailure("\(arguments.joined(separator: " ")) failed: \(String(decoding: data, as: UTF8.self)) \(errorText.text.suffix(2000))")
        }
        return object
    }
}
