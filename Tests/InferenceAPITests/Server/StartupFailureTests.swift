import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Start-up fails fast and plainly: the real binary, each mistake a new user makes, one line on
/// stderr naming the variable, exit code 2 (configuration) or 3 (a dependency not reachable).
@Suite("Start-up failures")
struct StartupFailureTests {
    /// Starts the binary with `variable` set to `url` (password `s3cret`, a port nothing listens
    /// on) and `extra`: exit 3 within the start-up bound, one line naming the variable once with
    /// the cause, the password written `***` and never printed. Returns the line.
    @discardableResult
    static func expectRefused(_ variable: String, _ url: String, extra: [String: String] = [:], label: String) async throws -> String {
        let outcome = try await CommandRun.run(["serve", "--port", "0"], environment: [variable: url, "STARTUP_TIMEOUT_SECONDS": "5"].merging(extra) { $1 })
        let line = outcome.verdict
        print("\(label): exit \(outcome.status) after \(String(format: "%.2f", outcome.seconds)) s: \(line)")
        #expect(outcome.status == 3, "\(outcome.stderr.suffix(600))")
        #expect(outcome.seconds < 5 + 2)
        #expect(line.contains(variable) && line.contains("connection refused") && line.contains("***"), "\(line)")
        #expect(line.components(separatedBy: variable).count == 2, "named once: \(line)")
        #expect(!outcome.stderr.contains("s3cret"), "the password is never printed")
        return line
    }

    @Test func testAnUnreachableDatabaseFailsFastNamingTheVariableWithoutThePassword() async throws {
        let port = try DedicatedMLflow.freePort()  // nothing listens there
        try await Self.expectRefused("DATABASE_URL", "postgres://app:s3cret@127.0.0.1:\(port)/db", label: "DATABASE_URL refused")
    }

    /// MLflow's PostgreSQL backend store, refused: tried once within the start-up bound (its pool
    /// would retry without end), one line, exit 3.
    @Test func testAnUnreachableMLflowDatabaseFailsFastNamingTheVariableWithoutThePassword() async throws {
        let port = try DedicatedMLflow.freePort()
        try await Self.expectRefused(
            "MLFLOW_TRACKING_URI", "postgresql+psycopg2://mlflow:s3cret@127.0.0.1:\(port)/mlflow", label: "MLFLOW_TRACKING_URI postgresql refused")
    }

    /// A tracking server that refuses, and no cached model for the default selection: one line
    /// naming the variable, the server (password redacted) and the cause, exit 3, at once.
    @Test func testAnUnreachableTrackingServerWithNothingCachedFailsFast() async throws {
        let port = try DedicatedMLflow.freePort()
        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let line = try await Self.expectRefused(
            "MLFLOW_TRACKING_URI", "http://ml:s3cret@127.0.0.1:\(port)", extra: ["MODEL_CACHE_DIR": cache.path],
            label: "MLFLOW_TRACKING_URI http refused, empty cache")
        #expect(line.contains("MODEL_CACHE_DIR"), "\(line)")
    }

    /// Only `MLFLOW_TRACKING_URI` set (the default selection: the champion alias): the first start
    /// remembers what it chose in the cache; with the server down, the next start serves that
    /// model from the cache at once, `/ready` and `/models/active` say so, and an activation is
    /// answered 503 within MLFLOW_HTTP_REQUEST_TIMEOUT + 1 s while the cached model keeps serving.
    @Test(.enabled(if: MLflowServer.url != nil, "needs TEST_MLFLOW_URL: run under scripts/with-mlflow.sh (make test does)"))
    func testTheDefaultSelectionServesFromTheCacheWhileTheServerIsDown() async throws {
        let champion = try MLflowServer().vector("champion")
        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let mlflow = try await DedicatedMLflow.start()
        let environment = ["MLFLOW_TRACKING_URI": mlflow.url, "MODEL_CACHE_DIR": cache.path, "MODEL_REFRESH_SECONDS": "0"]
        let first = try await ServerProcess(environment: environment)
        #expect(try ModelSourceRouteTests.json(await first.get("/models/active"))["run_id"] as? String == champion.run_id)
        first.process.terminate()
        await stopWaiting(first.process)
        await mlflow.stop()

        // The server is down: the same URL, the same cache, nothing configured but the URL (and
        // the bounds the figures below are held to).
        let started = Date()
        let second = try await ServerProcess(
            environment: environment.merging(["STARTUP_TIMEOUT_SECONDS": "5", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"]) { $1 })
        let seconds = Date().timeIntervalSince(started)
        print("tracking server down, default selection: listening from the cache after \(String(format: "%.2f", seconds)) s")
        #expect(seconds < 5 + 5, "\(second.logs.text.suffix(1500))")
        #expect(second.logs.text.contains("serving the cached model"), "\(second.logs.text.suffix(1500))")
        let active = try ModelSourceRouteTests.json(await second.get("/models/active"))
        #expect(active["run_id"] as? String == champion.run_id)
        let fromCache = active["from_cache"] as? [String: Any] ?? [:]
        #expect(fromCache["reference"] as? String == "models:/battery-hazard@champion", "\(active)")
        #expect((fromCache["reason"] as? String)?.contains("connection refused") == true, "\(fromCache)")
        let ready = try ModelSourceRouteTests.json(await second.get("/ready"))
        #expect(ready["status"] as? String == "degraded" && ready["model_from_cache"] != nil, "\(ready)")
        #expect((ready["degraded"] as? [String])?.contains { $0.hasPrefix("model_source:") } == true, "\(ready)")

        let asked = Date()
        let activate = try await ModelSourceRouteTests.post(second.port, "/models/activate", Data(#"{"model_uri": "models:/battery-hazard/1"}"#.utf8))
        let answered = Date().timeIntervalSince(asked)
        print("tracking server down: /models/activate answered \(activate.status) after \(String(format: "%.2f", answered)) s")
        #expect(activate.status == 503 && activate.body.contains("model_source_unavailable"), "\(activate.body)")
        #expect(answered < 3 + 1)
        let predict = try await ModelSourceRouteTests.post(
            second.port, "/predict", try JSONSerialization.data(withJSONObject: ["readings": Array(champion.readings.prefix(5))]))
        #expect(predict.status == 200)
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testAMissingDatabaseSaysSo() async throws {
        let url = try #require(TestApp.postgresURL)
        var components = try #require(URLComponents(string: url))
        components.path = "/no_such_database_here"
        let outcome = try await CommandRun.run(["serve", "--port", "0"], environment: ["DATABASE_URL": try #require(components.string), "STARTUP_TIMEOUT_SECONDS": "5"])
        let line = outcome.verdict
        print("DATABASE_URL without its database: exit \(outcome.status) after \(String(format: "%.2f", outcome.seconds)) s: \(line)")
        #expect(outcome.status == 3, "\(outcome.stderr.suffix(600))")
        #expect(line.contains("DATABASE_URL") && line.contains("does not exist"), "\(line)")
    }

    /// The port is held by a listening socket of the test process, not by a second server: a debug
    /// server took over 30 s to start in a loaded parallel pass, and the test failed waiting for it.
    @Test func testAPortInUseIsOneLineNamingPort() async throws {
        let held = try HeldPort()
        let outcome = try await CommandRun.run(["serve", "--port", String(held.port)])
        _ = held.port  // held until here
        let line = outcome.verdict
        print("port in use: exit \(outcome.status): \(line)")
        #expect(outcome.status == 2, "\(outcome.stderr.suffix(600))")
        #expect(line.contains("PORT") && line.contains("already in use") && !line.contains("errno"), "\(line)")
    }

    @Test func testAGRPCPortInUseIsOneLineNamingGRPCPort() async throws {
        let held = try HeldPort()
        let outcome = try await CommandRun.run(["serve", "--port", "0"], environment: ["GRPC_PORT": String(held.port), "STARTUP_TIMEOUT_SECONDS": "5"])
        _ = held.port  // held until here
        let line = outcome.verdict
        print("gRPC port in use: exit \(outcome.status) after \(String(format: "%.2f", outcome.seconds)) s: \(line)")
        #expect(outcome.status == 2, "\(outcome.stderr.suffix(600))")
        #expect(line.hasPrefix("configuration error: GRPC_PORT") && line.contains("127.0.0.1:\(held.port)"), "\(line)")
        #expect(outcome.seconds < 10)
    }

    @Test func testAPortFlagOutOfRangeIsRefusedLikePORT() async throws {
        let outcome = try await CommandRun.run(["serve", "--port", "99999"])
        #expect(outcome.status == 2)
        #expect(outcome.verdict.contains("--port must be from 0 to 65535"), "\(outcome.stderr)")
        let environment = try await CommandRun.run(["serve"], environment: ["PORT": "99999"])
        #expect(environment.status == 2 && environment.verdict.contains("PORT"), "\(environment.stderr)")
    }

    @Test func testAnUnknownSubcommandListsTheSubcommands() async throws {
        let outcome = try await CommandRun.run(["bogus"])
        let line = outcome.verdict
        #expect(outcome.status == 2)
        #expect(line.contains("unknown subcommand 'bogus'") && line.contains("serve") && line.contains("predict"), "\(line)")
    }

    /// A store folder that is not there, a model that is not there, an SQLite file that cannot be
    /// opened: one line naming the variable and the target, exit 2 or 3, never a library's own
    /// error text under "Error:" with exit 1.
    @Test func testMissingFilesAndModelsNameTheirVariable() async throws {
        let folder = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let mlruns = TestApp.repoRoot.appendingPathComponent("mlruns").path
        let sqlite = folder.appendingPathComponent("x.sqlite").path
        let cases: [(environment: [String: String], status: Int32, words: [String])] = [
            (["MLRUNS_DIR": folder.appendingPathComponent("none").path, "SQLITE_PATH": sqlite], 2, ["MLRUNS_DIR", "is not a folder"]),
            (["MLRUNS_DIR": mlruns, "BEST_MLFLOW_RUN_ID": "0123456789abcdef0123456789abcdef", "SQLITE_PATH": sqlite], 2, ["BEST_MLFLOW_RUN_ID", "0123456789abcdef"]),
            (["MLRUNS_DIR": mlruns, "SQLITE_PATH": "/proc/x.sqlite"], 3, ["SQLITE_PATH (/proc/x.sqlite) cannot be opened"]),
        ]
        for (environment, status, words) in cases {
            let outcome = try await CommandRun.run(["serve", "--port", "0"], environment: environment)
            let line = outcome.verdict
            print("start-up: exit \(outcome.status): \(line)")
            #expect(outcome.status == status, "\(environment): \(outcome.stderr.suffix(600))")
            #expect(words.allSatisfy { line.contains($0) } && !line.hasPrefix("Error:"), "\(line)")
        }
    }

    @Test(arguments: [
        ("MLFLOW_TRACKING_URI", "ftp://example.invalid/x"),
        // A malformed URL is the configuration's mistake (2), not an unreachable database (3).
        ("DATABASE_URL", "postgres://bad url"),
        ("DATABASE_URL", "postgresql://user:s3cret@/nohost"),
    ])
    func testEachMessageNamesItsVariableOnce(variable: String, value: String) async throws {
        let outcome = try await CommandRun.run(["serve", "--port", "0"], environment: [variable: value])
        #expect(outcome.status == 2, "\(outcome.stderr.suffix(600))")
        #expect(outcome.verdict.components(separatedBy: variable).count == 2, "named once: \(outcome.verdict)")
        #expect(!outcome.verdict.contains("s3cret"), "the password is not printed: \(outcome.verdict)")
    }
}

/// A loopback port taken by a listening socket of this process (no SO_REUSEPORT, so another
/// listener on it gets "address already in use"), released when this goes.
final class HeldPort: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = self.descriptor
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(descriptor, raw, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, raw, &length) == 0
            }
        }
        guard ok else {
            close(descriptor)
            throw TestFailure("could not hold a loopback port")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
