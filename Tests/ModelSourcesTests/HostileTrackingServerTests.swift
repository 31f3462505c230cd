import Foundation
import Logging
import Testing

@testable import ModelSources

/// A tracking server is trusted for what it serves, not for how much or how slowly: its artifact
/// listings and downloads are bounded (issue 24). Against `Tests/Hostile/tracking_server.py`, a
/// stand-in that lies about sizes, trickles bytes and nests folders forever (no real MLflow server
/// can be made to).
@Suite("Hostile tracking server", .timeLimit(.minutes(3)))
struct HostileTrackingServerTests {
    /// The stand-in, started for one test on a free loopback port, stopped at the end.
    final class StandIn: @unchecked Sendable {
        let process = Process()
        let input = Pipe()
        let url: String

        init() async throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Fixtures.repoRoot.appendingPathComponent("Tests/Hostile/tracking_server.py").path]
            // Its standard input is a pipe this process holds: the stand-in exits when it closes,
            // so none outlives a test process that died. Its errors go nowhere, so it never holds
            // `swift test`'s output open.
            let output = Pipe()
            process.standardOutput = output
            process.standardInput = input
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The first line is the port; read on a GCD thread, not on the Swift concurrency pool.
            let handle = output.fileHandleForReading
            let port = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
                DispatchQueue.global().async {
                    var line = Data()
                    while let byte = try? handle.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") { line.append(first) }
                    continuation.resume(returning: String(decoding: line, as: UTF8.self))
                }
            }
            guard Int(port) != nil else {
                process.terminate()
                throw TestFailure("the stand-in did not start: '\(port)'")
            }
            url = "http://127.0.0.1:\(port)"
        }

        deinit {
            process.terminate()
            try? input.fileHandleForWriting.close()
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func source(
        _ standIn: StandIn, cache: URL, maximumBytes: Int = ModelSources.Settings.defaultMaxArtifactBytes, otherHosts: Bool = false,
        requestTimeout: Int = 20, attempts: Int = 1
    ) throws -> TrackingServerSource {
        var settings = TrackingServerClient.Settings(baseURL: standIn.url)
        settings.requestTimeout = .seconds(Int64(requestTimeout))
        settings.attempts = attempts
        settings.token = "t0k3n"
        settings.redirectsToOtherHosts = otherHosts
        return try TrackingServerSource(
            client: try TrackingServerClient(settings: settings), cacheDirectory: cache.path, maximumBytes: maximumBytes,
            logger: Logger(label: "hostile-tracking-server-test"))
    }

    /// `fetch(remote)` into a fresh staging folder: the error, what was written, and how long it took.
    static func fetch(
        _ remote: String, maximumBytes: Int = ModelSources.Settings.defaultMaxArtifactBytes, otherHosts: Bool = false,
        requestTimeout: Int = 20, attempts: Int = 1
    ) async throws -> (error: String?, written: Int, folders: Int, seconds: Double, content: String) {
        let standIn = try await StandIn()
        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let staging = cache.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        let source = try Self.source(
            standIn, cache: cache, maximumBytes: maximumBytes, otherHosts: otherHosts, requestTimeout: requestTimeout, attempts: attempts)
        let started = ContinuousClock.now
        var failure: String?
        do { _ = try await source.fetch(remote, into: staging) } catch { failure = "\(error)" }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var written = 0, folders = 0
        if let files = FileManager.default.enumerator(at: staging, includingPropertiesForKeys: [.fileSizeKey, .isDirectoryKey]) {
            for case let file as URL in files {
                let values = try? file.resourceValues(forKeys: [.fileSizeKey, .isDirectoryKey])
                if values?.isDirectory == true { folders += 1 } else { written += values?.fileSize ?? 0 }
            }
        }
        print("hostile tracking server, \(remote): \(failure ?? "no error") after \(String(format: "%.2f", seconds)) s, \(written) bytes written, \(folders) folders")
        _ = standIn.url  // running until here
        let content = (try? String(contentsOf: staging.appendingPathComponent("model.ubj"), encoding: .utf8)) ?? ""
        return (failure, written, folders, seconds, content)
    }

    /// Listed at 10 bytes, sent 50 MB: stopped before the excess is written (it was written whole before).
    @Test func testMoreBytesThanListedStopsTheDownloadAtOnce() async throws {
        let outcome = try await Self.fetch("big")
        #expect(outcome.error?.contains("more than the 10 bytes") == true, "\(outcome.error ?? "no error")")
        #expect(outcome.written <= 10)
        #expect(outcome.seconds < 20, "50 MB were not waited for")
    }

    /// A byte a second never trips a read timeout, and the 10 bytes would all arrive after 10 s;
    /// the download's own deadline (MLFLOW_HTTP_REQUEST_TIMEOUT, 3 s here, plus a second per MiB
    /// listed) ends it first.
    @Test func testATrickledDownloadEndsAtItsDeadline() async throws {
        let outcome = try await Self.fetch("slow", requestTimeout: 3)
        #expect(outcome.error?.contains("did not arrive within 3.0 s") == true, "\(outcome.error ?? "no error")")
        #expect(outcome.seconds < 9, "ended before the trickle would have")
    }

    /// A folder inside every folder: refused at the depth limit (17 listings), not listed until
    /// shutdown (about 7,100 listings in 5 minutes before).
    @Test func testEndlesslyNestedFoldersAreRefusedAtTheDepthLimit() async throws {
        let outcome = try await Self.fetch("nest")
        #expect(outcome.error?.contains("nest deeper than \(TrackingServerSource.maximumDepth)") == true, "\(outcome.error ?? "no error")")
        #expect(outcome.folders == TrackingServerSource.maximumDepth, "one folder made per level listed")
    }

    /// The same folder listed twice in one listing is refused.
    @Test func testAFolderListedTwiceIsRefused() async throws {
        let outcome = try await Self.fetch("twice")
        #expect(outcome.error?.contains("twice") == true, "\(outcome.error ?? "no error")")
    }

    /// A redirect on the same server is followed with the credentials; one to another host is
    /// refused unless MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS, and then followed without them
    /// (async-http-client followed any, credentials and all).
    @Test func testRedirectsToAnotherHostAreRefusedUnlessAllowed() async throws {
        let same = try await Self.fetch("rsame")
        #expect(same.error == nil && same.content == "credential", "\(same)")
        let other = try await Self.fetch("rother")
        #expect(other.error?.contains("redirected to another host") == true && other.error?.contains("MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS") == true, "\(other)")
        #expect(other.written == 0)
        let allowed = try await Self.fetch("rother", otherHosts: true)
        #expect(allowed.error == nil && allowed.content == "anonymous.", "\(allowed)")
    }

    /// A listing larger than MODEL_MAX_ARTIFACT_BYTES is refused before anything is downloaded; an
    /// honest file within it is fetched exactly.
    @Test func testTheArtifactBudgetIsCheckedAgainstTheListing() async throws {
        let refused = try await Self.fetch("fine", maximumBytes: 9)
        #expect(refused.error?.contains("MODEL_MAX_ARTIFACT_BYTES") == true, "\(refused.error ?? "no error")")
        #expect(refused.written == 0)
        let fetched = try await Self.fetch("fine", maximumBytes: 10)
        #expect(fetched.error == nil)
        #expect(fetched.written == 10)
    }

    /// 503 with `Retry-After: 2`, then the file: the retry waits the 2 s the server asked (not the
    /// client's own 0.2 s pause) and fetches it.
    @Test func testRetryAfterIsWaitedForWithinTheDeadline() async throws {
        let outcome = try await Self.fetch("busy", requestTimeout: 10, attempts: 3)
        #expect(outcome.error == nil, "\(outcome.error ?? "")")
        #expect(outcome.written == 10)
        #expect(outcome.seconds >= 2 && outcome.seconds < 10, "waited the server's 2 s: \(outcome.seconds) s")
    }

    /// 429 with `Retry-After: 30` against a 3 s deadline: not waited for, answered at once, saying so.
    @Test func testARetryAfterPastTheDeadlineEndsTheRequestAtOnce() async throws {
        let outcome = try await Self.fetch("later", requestTimeout: 3, attempts: 3)
        #expect(outcome.error?.contains("HTTP 429") == true && outcome.error?.contains("retry after 30") == true, "\(outcome.error ?? "no error")")
        #expect(outcome.seconds < 3, "the 30 s were not waited: \(outcome.seconds) s")
        #expect(outcome.written == 0)
    }
}
