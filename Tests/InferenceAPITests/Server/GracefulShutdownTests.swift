import Foundation
import Testing

@testable import InferenceAPI

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Bytes read from a pipe on another thread.
final class LogBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.lock()
        data.append(chunk)
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// SIGTERM to the real executable while requests are in flight: they finish with 200, new
/// connections are refused, and the process exits cleanly.
@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    /// A blocking loopback TCP connection, so the test can send half a request and stop.
    final class Connection {
        let fd: Int32

        init?(port: Int) {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if connected != 0 {
                close(fd)
                return nil
            }
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                offset += n
            }
        }

        /// Reads until the peer closes or the answer's body is complete (Content-Length).
        func readResponse() -> String {
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                data += buffer[0..<n]
                let text = String(decoding: data, as: UTF8.self)
                if let split = text.range(of: "\r\n\r\n"),
                    let lengthLine = text[..<split.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
                    let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
                    text.utf8.count - text[..<split.upperBound].utf8.count >= length
                {
                    break
                }
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Under both task executors (`TASK_EXECUTOR`): the default makes the event loops Swift's
    /// global executor, which only the real process can do (once, before any task runs).
    @Test(.timeLimit(.minutes(2)), arguments: ["event-loops", "global"])
    func testSIGTERMLetsRequestsInFlightFinish(executor: String) async throws {
        let server = try await ServerProcess(environment: ["TASK_EXECUTOR": executor])
        let process = server.process, collected = server.logs, serverPort = server.port
        #expect(collected.text.contains(#""executor":"\#(executor)""#), "the executor asked for is the one in use")

        let vector = try TestApp.servedVector()
        let body = Array(try JSONSerialization.data(withJSONObject: ["readings": Array(vector.readings.prefix(20))]))
        let head = Array("POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8)

        // Two requests in flight: headers and half a body sent, the rest still to come.
        var inFlight: [Connection] = []
        for _ in 0..<2 {
            let connection = try #require(Connection(port: serverPort))
            connection.send(head + body[0..<(body.count / 2)])
            inFlight.append(connection)
        }
        try await Task.sleep(for: .milliseconds(300))
        kill(process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(500))

        #expect(process.isRunning, "the server waits for requests in flight")
        #expect(Connection(port: serverPort) == nil, "no new connections after SIGTERM")

        for connection in inFlight {
            connection.send(Array(body[(body.count / 2)...]))
            let answer = connection.readResponse()
            #expect(answer.hasPrefix("HTTP/1.1 200"), "in-flight request answered: \(answer.prefix(200))")
            #expect(answer.contains("\"hazard_probability\""))
        }
        inFlight.removeAll()

        let exitDeadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < exitDeadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "the server exits once requests are done")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }

    /// Settings that take one of a few words: a wrong one stops start-up naming the variable and
    /// the words it takes.
    @Test(arguments: [
        ("TASK_EXECUTOR", "threads", "event-loops, global"), ("MISSING_VALUES", "drop", "reject, nan, zero"),
        ("LOG_LEVEL", "loud", "trace, debug, info, notice, warning, error, critical"),
    ])
    func testUnknownChoiceStopsStartUpNamingTheVariable(_ variable: String, _ value: String, _ choices: String) {
        let error = #expect(throws: ConfigurationError.self) { try Configuration(environment: [variable: value]) }
        #expect(error?.variable == variable)
        #expect(error?.description.contains("must be one of \(choices) (got '\(value)')") == true, "\(error?.description ?? "")")
    }

    @Test func testTaskExecutorDefaultsToTheEventLoopsAndIgnoresCase() throws {
        #expect(try Configuration(environment: [:]).taskExecutor == .eventLoops)
        #expect(try Configuration(environment: ["TASK_EXECUTOR": "Global"]).taskExecutor == .global)
    }
}

/// SIGTERM with a dependency stalled. Runs alone (`ALONE_TESTS`): it bounds a shutdown's time, and
/// in the loaded parallel pass one run took 13.6 s (alone, and beside 3 or 8 busy loops here, the
/// whole test takes 7-9 s and passes); its failure message carries the server's debug log.
@Suite("Shutdown with a dependency stalled")
struct ShutdownUnderStallTests {
    /// SIGTERM while a dependency stalls (issue 25): EMS Core accepts connections and never
    /// answers, with an alert in flight to it (a 60 s call deadline) and hazard bookkeeping
    /// running. The process still exits 0 within `SHUTDOWN_GRACE_SECONDS` + 1 s.
    @Test(.timeLimit(.minutes(2)))
    func testSIGTERMEndsWithinTheGraceWhileEMSCoreStalls() async throws {
        let stalled = try HeldPort()  // listens, never accepts: every call to it hangs
        let grace = 2.0
        let server = try await ServerProcess(environment: [
            "SHUTDOWN_GRACE_SECONDS": "\(Int(grace))", "EMS_CORE_URL": "http://127.0.0.1:\(stalled.port)", "EMS_CORE_TIMEOUT_SECONDS": "60",
            // Every reading hazardous, one opens an episode: an alert for EMS Core at once.
            "HAZARD_THRESHOLD": "0", "ALERT_MIN_SAMPLES": "1", "LOG_LEVEL": "debug",
        ])
        let vector = try TestApp.servedVector()
        var readings = Array(vector.readings.prefix(3)) as [[String: Any]]
        for k in readings.indices { readings[k]["module_id"] = "m-\(k)" }
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(server.port)/predict")))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["readings": readings])
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        // The episodes recorded (within the 1 s linger) and their alerts claimed for delivery.
        var pending = false
        let until = Date().addingTimeInterval(20)
        while !pending, Date() < until {
            let metrics = await server.get("/metrics")
            let line = metrics.split(separator: "\n").first { $0.hasPrefix(#"ems_outbox_messages{state="pending"} "#) }
            pending = (line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) >= 3
            if !pending { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(pending, "the episodes' messages wait for EMS Core")
        try await Task.sleep(for: .seconds(1))  // the deliverer's calls are under way, hanging

        let sent = Date()
        kill(server.process.processIdentifier, SIGTERM)
        while server.process.isRunning, Date().timeIntervalSince(sent) < 30 { try await Task.sleep(for: .milliseconds(20)) }
        let took = Date().timeIntervalSince(sent)
        #expect(!server.process.isRunning)
        #expect(took <= grace + 1, "SIGTERM took \(took) s with EMS Core stalled (grace \(grace) s): \(server.logs.text.suffix(3000))")
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0, "\(server.logs.text.suffix(1500))")
    }
    /// SIGTERM while the tracking server stalls (issue 25 item 2): a real `mlflow server` fills the
    /// cache, then is frozen (SIGSTOP: connections accepted, never answered); the service serves
    /// from the cache, the alias follower's call and an activation hang on it (a 60 s request
    /// timeout), and the process still exits 0 within `SHUTDOWN_GRACE_SECONDS` + 1 s.
    @Test(.timeLimit(.minutes(5)), .enabled(if: MLflowServer.url != nil, "needs TEST_MLFLOW_URL: run under scripts/with-mlflow.sh (make test does)"))
    func testSIGTERMEndsWithinTheGraceWhileTheTrackingServerStalls() async throws {
        let cache = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        // The cache filled from a real server of the test's own (the default selection, remembered).
        let mlflow = try await DedicatedMLflow.start()
        let first = try await ServerProcess(environment: ["MLFLOW_TRACKING_URI": mlflow.url, "MODEL_CACHE_DIR": cache.path, "MODEL_REFRESH_SECONDS": "0"])
        first.process.terminate()
        await stopWaiting(first.process)

        mlflow.freeze()  // connections accepted, never answered
        let grace = 2.0
        let started = Date()
        let server = try await ServerProcess(environment: [
            "MLFLOW_TRACKING_URI": mlflow.url, "MODEL_CACHE_DIR": cache.path, "MODEL_REFRESH_SECONDS": "1",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "STARTUP_TIMEOUT_SECONDS": "3", "SHUTDOWN_GRACE_SECONDS": "\(Int(grace))", "LOG_LEVEL": "debug",
        ])
        let listening = Date().timeIntervalSince(started)
        #expect(server.logs.text.contains("serving the cached model"), "\(server.logs.text.suffix(1500))")
        // An activation hanging on the stalled server, beside the alias follower's call.
        let port = server.port
        let activation = Task {
            try? await ModelSourceRouteTests.post(port, "/models/activate", Data(#"{"model_uri": "models:/battery-hazard/1"}"#.utf8))
        }
        try await Task.sleep(for: .seconds(2))

        let sent = Date()
        kill(server.process.processIdentifier, SIGTERM)
        while server.process.isRunning, Date().timeIntervalSince(sent) < 30 { try await Task.sleep(for: .milliseconds(20)) }
        let took = Date().timeIntervalSince(sent)
        activation.cancel()
        print("SIGTERM with the tracking server stalled: listening from the cache after \(String(format: "%.2f", listening)) s, exited \(String(format: "%.2f", took)) s after SIGTERM (grace \(grace) s)")
        #expect(!server.process.isRunning)
        #expect(took <= grace + 1, "SIGTERM took \(took) s with the tracking server stalled (grace \(grace) s): \(server.logs.text.suffix(3000))")
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0, "\(server.logs.text.suffix(1500))")
        await mlflow.stop()  // also what keeps it (frozen) alive until here
    }
    /// SIGTERM with PostgreSQL stopped (issue 25 item 2; the issue saw 21.8 s): a write answered
    /// 503 meanwhile, hazard bookkeeping waiting to be recorded, and the process still exits 0
    /// within `SHUTDOWN_GRACE_SECONDS` + 1 s (its own cluster, `Tests/Hostile/sigterm_postgres_down.py`).
    @Test(.timeLimit(.minutes(3)), .enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testSIGTERMEndsWithinTheGraceWhilePostgreSQLIsDown() async throws {
        let directory = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let grace = 2.0
        let report = try await ServerProcess.python(
            "sigterm_postgres_down.py",
            [
                ServerProcess.executable.path, TestApp.repoRoot.appendingPathComponent("mlruns").path, "--grace", "\(Int(grace))",
                "--log", directory.appendingPathComponent("server.log").path,
            ], ownPostgres: true)
        let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
        #expect(report["detect_before"] as? Int == 200 && report["predict_before"] as? [Int] == [200, 200, 200], "\(report)")
        #expect(report["predict_while_down"] as? Int == 200, "/predict does not need the store: \(report)")
        #expect(report["detect_while_down"] as? Int == 503, "\(report)")
        let took = report["seconds_to_exit"] as? Double ?? 99
        print("SIGTERM with PostgreSQL stopped: exited \(took) s after SIGTERM (grace \(grace) s), exit code \(report["exit_code"] ?? "?")")
        #expect(took <= grace + 1, "SIGTERM took \(took) s with PostgreSQL down: \(log.suffix(3000))")
        #expect(report["exit_code"] as? Int == 0, "\(report) \(log.suffix(1500))")
    }
}


