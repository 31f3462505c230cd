import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Storage
import Synchronization
import Testing

@testable import InferenceAPI

/// The real server with 500 assets that each have a trained 100-tree model, scored round robin:
/// the decoded-model cache keeps within ANOMALY_MODEL_CACHE_BYTES, so resident memory stays within
/// the budget plus the idle resident memory (and some allocator slack). Scaled down from the
/// issue's 10,000 assets: a debug build decodes a 100-tree forest in about 80 ms, so 10,000 misses
/// took over 5 minutes on this machine; the models still need many times the budget.
@Suite("Anomaly model memory", .timeLimit(.minutes(5)))
struct AssetModelMemoryTests {
    /// 500 in `make test`; `ASSET_MEMORY_ASSETS=10000 INFERENCE_API_BINARY=.build/release/inference-api`
    /// runs the issue's full size against a release build.
    static let assets = ProcessInfo.processInfo.environment["ASSET_MEMORY_ASSETS"].flatMap { Int($0) } ?? 500
    static let budgetMiB = 16
    /// What the allocator may keep beyond the budget (request buffers, arenas). The cache hands
    /// evicted forests' pages back (malloc_trim): 1-2 MiB over at 500 (debug) and 10,000 assets
    /// (release) since, 10-12 MiB before, when this allowed 48.
    static let slackMiB = 16.0

    @Test func testTenThousandTrainedAssetsStayWithinTheCacheBudget() async throws {
        let server = try await ServerProcess(environment: ["ANOMALY_MODEL_CACHE_BYTES": String(Self.budgetMiB << 20)])
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await Self.run(server: server, client: client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    static func run(server: ServerProcess, client: HTTPClient) async throws {
        let url = "http://127.0.0.1:\(server.port)"
        let metrics = ["cpu_pct", "memory_pct", "bandwidth_mbps", "latency_ms", "error_count"]
        let train = try JSONSerialization.data(withJSONObject: [
            "asset_id": "asset-0", "metrics": metrics, "samples": try AnomalyRouteTests.series(count: 400), "n_estimators": 100, "seed": 7,
        ])
        let trained = try await post(client, url + "/anomaly/train", train)
        #expect(trained.status == .created, "\(trained.body.prefix(300))")

        // 9,999 more assets with the same trained model, copied in SQL into the server's file
        // (training 10,000 forests here would take far longer); each is decoded on its own.
        let (artifactBytes, models) = try await copyModel(of: "asset-0", count: assets, file: server.directory.appendingPathComponent("s.sqlite").path)
        #expect(models == assets)

        let idle = server.memoryMB.rss
        let template = String(
            decoding: try JSONSerialization.data(
                withJSONObject: ["asset_id": "ASSET", "samples": try AnomalyRouteTests.series(count: 1, offset: 500), "persist": false]),
            as: UTF8.self)
        let failures = Failures()
        let started = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for asset in stride(from: worker, to: assets, by: 4) {
                        let body = Data(template.replacingOccurrences(of: "\"ASSET\"", with: "\"asset-\(asset)\"").utf8)
                        let answer = try await post(client, url + "/anomaly/detect", body)
                        let modelId = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["model_id"] as? String
                        if answer.status != .ok || modelId == nil { failures.add("asset-\(asset): \(answer.status) \(answer.body.prefix(200))") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Date().timeIntervalSince(started)
        let after = server.memoryMB
        let scraped = try await post(client, url + "/metrics", nil, method: .GET).body
        func series(_ name: String) -> Double? {
            scraped.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let cacheMiB = (series("anomaly_model_cache_bytes") ?? .infinity) / 1_048_576
        print(
            """
            asset models: \(assets) assets with a 100-tree model (\(artifactBytes / 1024) KiB serialized) scored round robin in \(String(format: "%.1f", seconds)) s (\(ServerProcess.executable.path))
            asset models: cache budget \(budgetMiB) MiB, cache holds \(String(format: "%.1f", cacheMiB)) MiB; RSS idle \(String(format: "%.0f", idle)) MiB, after \(String(format: "%.0f", after.rss)) MiB, peak \(String(format: "%.0f", after.peak)) MiB
            """)
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        #expect(cacheMiB <= Double(budgetMiB))
        #expect(after.rss <= idle + Double(budgetMiB) + slackMiB, "RSS \(after.rss) MiB after, \(idle) MiB idle")
        #expect(Double(artifactBytes * assets) / 1_048_576 > 4 * Double(budgetMiB), "the models would not fit the budget without eviction")
        #expect(series("anomaly_model_cache_entries").map { $0 < Double(assets) / 2 } == true, "entries were evicted")
    }

    /// Copies the asset's active model row to `asset-1` ... `asset-<count - 1>`; the artifact's size and the models now stored.
    static func copyModel(of asset: String, count: Int, file: String) async throws -> (artifactBytes: Int, models: Int) {
        let database = try await SQLiteStoreDatabase.open(path: file, logger: .init(label: "test"))
        do {
            _ = try await database.rows(
                """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO model_metadata (tenant_id, model_type, model_version, asset_id, training_date, metrics, parameters, status, artifact, artifact_path, metadata)
                SELECT m.tenant_id, m.model_type, m.model_version, 'asset-' || n.i, m.training_date, m.metrics, m.parameters, 'active', m.artifact, m.artifact_path, m.metadata
                FROM model_metadata m, n WHERE m.asset_id = ? AND m.status = 'active'
                """, [.integer(count - 1), .text(asset)])
            let size = try await database.rows("SELECT length(artifact) AS n FROM model_metadata WHERE asset_id = ?", [.text(asset)]).first?.column("n")?.integer
            let models = try await database.rows("SELECT count(*) AS n FROM model_metadata WHERE model_type = 'isolation_forest' AND status = 'active'")
                .first?.column("n")?.integer
            try await database.close()
            return (size ?? 0, models ?? 0)
        } catch {
            try? await database.close()
            throw error
        }
    }

    final class Failures: Sendable {
        private let list = Mutex<[String]>([])
        func add(_ failure: String) { list.withLock { $0.append(failure) } }
        var all: [String] { list.withLock { $0 } }
    }

    static func post(_ client: HTTPClient, _ url: String, _ body: Data?, method: HTTPMethod = .POST) async throws -> (status: HTTPResponseStatus, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        return (response.status, String(buffer: try await response.body.collect(upTo: 16 << 20)))
    }
}
