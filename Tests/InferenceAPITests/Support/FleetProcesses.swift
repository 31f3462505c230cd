import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO


#if canImport(Glibc)
import Glibc
@testable import Storage
#endif

/// A loopback port nothing listens on now (bound, read, closed).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestFailure("no free loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether `process` exited within `seconds`, polled with `Task.sleep`. Never `waitUntilExit()`
/// (or a usleep loop) in an async test: it holds one of the Swift concurrency pool's threads (two
/// on a 2-core machine) while the child ends, and every in-process app of the suites running
/// beside it stalls meanwhile.
func exited(_ process: Process, within seconds: Double) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning, Date() < deadline {
        if (try? await Task.sleep(for: .milliseconds(20))) == nil { usleep(20_000) }  // cancelled: still wait, briefly
    }
    return !process.isRunning
}

/// Waits at most 15 s for `process` to exit, then kills it (and waits for that).
func stopWaiting(_ process: Process) async {
    if await exited(process, within: 15) { return }
    kill(process.processIdentifier, SIGKILL)
    _ = await exited(process, within: 15)
}

/// One `inference-api serve` process of the fleet, its logs in a file.
final class ReplicaProcess: @unchecked Sendable {
    let name: String
    let port: Int
    let environment: [String: String]
    let logFile: URL
    private(set) var process: Process?

    init(name: String, port: Int, environment: [String: String], directory: URL) {
        self.name = name
        self.port = port
        self.environment = environment
        self.logFile = directory.appendingPathComponent("\(name).log")
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func launch() throws {
        let process = Process()
        process.executableURL = ServerProcess.executable
        process.arguments = ["serve"]
        process.environment = ["GRPC_PORT": "0"].merging(environment) { _, new in new }.merging(["PORT": String(port), "REPLICA_ID": name]) { _, new in new }
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    func kill9() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = await exited(process, within: 15)
    }

    /// SIGTERM (the graceful path), SIGKILL if it has not exited within 15 s.
    func stop() async {
        guard let process, process.isRunning else { return }
        process.terminate()
        await stopWaiting(process)
    }

    /// Resident memory now (VmRSS), in MiB; nil when not running.
    var residentMiB: Double? {
        guard let process, process.isRunning,
            let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kib / 1024
    }

    var logTail: String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return String(text.suffix(3000))
    }

    /// Polls `/ready` until it answers 200; returns the seconds it took.
    func waitUntilReady(client: HTTPClient, timeout: Double = 60) async throws -> Double {
        let started = Date()
        while Date().timeIntervalSince(started) < timeout {
            if let process, !process.isRunning { throw TestFailure("\(name) exited: \(logTail)") }
            let request = HTTPClientRequest(url: url + "/ready")
            if let response = try? await client.execute(request, timeout: .seconds(2)), response.status == .ok {
                return Date().timeIntervalSince(started)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(name) not ready after \(timeout) s: \(logTail)")
    }
}

/// nginx from the Debian package, started from a generated configuration in a temporary folder
/// (never the system service): round-robin over the replicas; `/predict` is retried on another
/// replica when one fails (it writes nothing), other routes only when the request never reached one.
final class NginxProxy: @unchecked Sendable {
    let port: Int
    let directory: URL
    private var process: Process?

    static let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }

    init(port: Int, upstreams: [Int], directory: URL) throws {
        self.port = port
        self.directory = directory
        let servers = upstreams.map { "    server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;" }.joined(separator: "\n")
        let proxy = """
                proxy_pass http://replicas;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_connect_timeout 1s;
                proxy_read_timeout 20s;
                add_header X-Upstream $upstream_addr always;
            """
        let configuration = """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(directory.path)/nginx.pid;
            error_log \(directory.path)/error.log warn;
            events { worker_connections 1024; }
            http {
              access_log off;
              client_body_temp_path \(directory.path)/body;
              proxy_temp_path \(directory.path)/proxy;
              fastcgi_temp_path \(directory.path)/fastcgi;
              uwsgi_temp_path \(directory.path)/uwsgi;
              scgi_temp_path \(directory.path)/scgi;
              client_max_body_size 16m;
              upstream replicas {
            \(servers)
                keepalive 32;
              }
              server {
                listen 127.0.0.1:\(port);
                location = /predict {
            \(proxy)
                  proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
                  proxy_next_upstream_tries 3;
                }
                location / {
            \(proxy)
                  proxy_next_upstream error timeout http_502 http_504;
                }
              }
            }
            """
        try configuration.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
    }

    func launch() throws {
        guard let binary = Self.binary else { throw TestFailure("nginx is not installed (make test installs it: TEST_PACKAGES)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-p", directory.path, "-e", directory.appendingPathComponent("error.log").path, "-c", directory.appendingPathComponent("nginx.conf").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// SIGKILL: a test's proxy has nothing to finish (and in single-process mode nginx may run
    /// with the test runner's blocked signal mask, where SIGTERM never arrives).
    func stop() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        await stopWaiting(process)
    }

    var errorLog: String {
        String(((try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? "").suffix(3000))
    }
}

/// A PostgreSQL database of its own on the throwaway cluster, for processes to share.
enum FleetDatabase {
    static func create(url: String) async throws -> (url: String, name: String) {
        let name = "fleet_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12))"
        _ = try await admin(url: url) { try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)")) }
        guard var components = URLComponents(string: url) else { throw TestFailure("bad TEST_DATABASE_URL") }
        components.path = "/" + name
        return (components.string ?? url, name)
    }

    static func drop(url: String, name: String) async throws {
        _ = try await admin(url: url) { try await $0.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")) }
    }

    /// Runs `body` with a client on `url`'s database.
    static func admin<T: Sendable>(url: String, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try PostgresStoreDatabase.configuration(url: url))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
