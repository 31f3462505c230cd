import ComputeSupport
import EMSCore
import Foundation
import Hummingbird
import HummingbirdTesting
import InferenceAPI
import Logging
import PostgresNIO
import Storage
import Testing

/// The whole service (`buildApplication`) against the stand-in EMS Core, on SQLite or on a fresh
/// PostgreSQL database of the cluster `make test` starts (`TEST_DATABASE_URL`).
enum EMSTestApp {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let postgresURL = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"]
    static let logger = Logger(label: "ems-test")

    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// The backends to run: PostgreSQL whenever a database is configured, and always in CI (where
    /// a missing URL then fails the test instead of skipping it).
    static var backends: [Backend] {
        postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil ? [.sqlite, .postgres] : [.sqlite]
    }

    /// A configuration on a fresh database of `backend` (SQLite file or PostgreSQL database URL),
    /// dropped after `body`.
    static func withDatabase<T: Sendable>(_ backend: Backend, _ body: (_ apply: @Sendable (inout Configuration) -> Void) async throws -> T) async throws -> T {
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ems-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("ems.sqlite").path
            return try await body { $0.sqlitePath = path }
        case .postgres:
            guard let url = postgresURL else { throw TestFailure("TEST_DATABASE_URL is not set (CI must run the PostgreSQL tests)") }
            let admin = PostgresClient(configuration: try PostgresStoreDatabase.configuration(url: url), backgroundLogger: logger)
            let name = "e_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await admin.run() }
                defer { group.cancelAll() }
                try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
                var components = URLComponents(string: url)!
                components.path = "/\(name)"
                let databaseURL = components.string!
                let result: Result<T, any Error>
                do { result = .success(try await body { $0.databaseURL = databaseURL }) } catch { result = .failure(error) }
                try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
                return try result.get()
            }
        }
    }

    /// The served fixtures, port 0, the stand-in as EMS Core with quick retries.
    static func configuration(ems: StandInEMSCore?, _ apply: (inout Configuration) -> Void) -> Configuration {
        var configuration = Configuration()
        configuration.mlrunsDirectory = repoRoot.appendingPathComponent("mlruns").path
        configuration.port = 0
        configuration.logLevel = .warning
        if let ems {
            configuration.emsCore = EMSCoreEndpoint(baseURL: ems.url, token: ems.token, timeout: 5)
        }
        configuration.delivery.breakerFailures = 3
        configuration.delivery.breakerCooldown = 0.5
        configuration.delivery.retry = RetryPolicy(baseDelay: 0.05, maxDelay: 1)
        configuration.delivery.pollInterval = 0.2
        configuration.delivery.countInterval = 0.2
        // These suites are about delivery, not deadlines; `make test` runs kill -9 and outage tests
        // on the same PostgreSQL cluster meanwhile.
        configuration.storeTimeoutSeconds = 60
        apply(&configuration)
        return configuration
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    static func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
    }

    /// `POST /anomaly/detect`; returns the results.
    @discardableResult
    static func detect(_ client: some TestClientProtocol, asset: String, _ samples: ArraySlice<Series.Sample>) async throws -> [[String: Any]] {
        let body: [String: Any] = [
            "asset_id": asset,
            "samples": samples.map { ["timestamp": ISO8601.format($0.time), "metrics": $0.metrics] },
        ]
        let response = try await client.execute(
            uri: "/anomaly/detect", method: .post, headers: json, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        guard response.status == .ok else { throw TestFailure("detect answered \(response.status): \(String(buffer: response.body).prefix(300))") }
        return object(response)["results"] as? [[String: Any]] ?? []
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass; returns whether it held.
    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A metric series with injected anomaly runs, and the episodes it must give.
struct Series: Sendable {
    struct Sample: Sendable {
        let time: Date
        let metrics: [String: Double]
    }

    /// A run of injected anomalous samples: where, and how (`moderate` first samples, then `big`).
    struct Run: Sendable {
        let start: Int
        let length: Int
    }

    let samples: [Sample]
    let runs: [Run]
    /// Lone anomalous samples: flagged, but no episode.
    let singles: [Int]

    static let start = Date(timeIntervalSince1970: 1_796_000_000)

    /// `count` samples five minutes apart: cpu and memory varying in a narrow band, `runs`
    /// injected runs of 2-6 samples (some moderate, some big, some moderate then big), lone
    /// spikes between some, at least 80 normal samples between runs (anomalies stay under one sample
    /// in ten of the detector's 200-sample window, whose body it reads) and 30 at the end.
    static func make(count: Int, runs: Int, seed: UInt64) -> Series {
        var generator = SplitMix64(seed: seed)
        var kinds: [Int: Double] = [:]
        var made: [Run] = []
        var singles: [Int] = []
        var i = 250
        for r in 0..<runs {
            let length = 2 + Int(generator.next() % 5)
            let shape = r % 3
            for k in 0..<length {
                // Moderate (a warning on the calibrated scale) or big (critical); no value repeats,
                // so the flatline detector stays out of the severities.
                let moderate = 36 + 0.01 * Double(k), big = 95 + 0.01 * Double(k)
                kinds[i + k] = shape == 0 ? big : shape == 1 ? moderate : (k < 2 ? moderate : big)
            }
            made.append(Run(start: i, length: length))
            let gap = 80 + Int(generator.next() % 20)
            if r % 4 == 1 {
                singles.append(i + length + gap / 2)
                kinds[i + length + gap / 2] = 95
            }
            i += length + gap
        }
        precondition(i + 30 <= count, "the runs do not fit")
        let samples = (0..<count).map { (i: Int) -> Sample in
            let normal: Double = 20 + Double((i * 7) % 11) * 0.3
            let memory: Double = 50 + Double((i * 3) % 5)
            return Sample(time: start.addingTimeInterval(Double(i) * 300), metrics: ["cpu": kinds[i] ?? normal, "memory": memory])
        }
        return Series(samples: samples, runs: made, singles: singles)
    }

    /// Indexes that must be flagged.
    var anomalous: Set<Int> { Set(runs.flatMap { $0.start..<($0.start + $0.length) } + singles) }

    /// The changes each run must give, from the scores the service answered: `open`, `escalate`
    /// when a later sample reaches `critical` after opening below it, `close`.
    func expectedChanges(scores: [Double], critical: Double) -> [(run: Run, changes: [String], severity: String)] {
        runs.map { run in
            let opening = scores[run.start..<(run.start + 2)].max() ?? 0
            let peak = scores[run.start..<(run.start + run.length)].max() ?? 0
            var changes = ["open"]
            if opening < critical && peak >= critical { changes.append("escalate") }
            changes.append("close")
            return (run, changes, peak >= critical ? "critical" : "warning")
        }
    }
}
