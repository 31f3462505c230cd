import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import InferenceAPI

/// Decoded anomaly models per asset: one decode per trained model, retraining replaces it, the
/// budget evicts the least recently used, and a read that raced an invalidation is not kept.
@Suite("Anomaly model cache", .timeLimit(.minutes(5)))
struct AssetModelCacheTests {
    static func entry(bytes: Int) -> AssetModelCache.Entry {
        AssetModelCache.Entry(record: nil, model: nil, parameters: nil, bytes: bytes)
    }

    static func key(_ asset: String) -> AssetModelCache.Key { .init(tenantId: "t", assetId: asset) }

    @Test func testTheBudgetEvictsTheLeastRecentlyUsed() {
        let cache = AssetModelCache(budgetBytes: 1000, telemetry: nil)
        cache.insert(Self.entry(bytes: 400), for: Self.key("a"), readAt: cache.generation)
        cache.insert(Self.entry(bytes: 400), for: Self.key("b"), readAt: cache.generation)
        #expect(cache.lookup(Self.key("a")) != nil, "a is now the most recently used")
        cache.insert(Self.entry(bytes: 400), for: Self.key("c"), readAt: cache.generation)
        #expect(cache.lookup(Self.key("b")) == nil, "b was the least recently used")
        #expect(cache.lookup(Self.key("a")) != nil && cache.lookup(Self.key("c")) != nil)
        #expect(cache.usage.bytes == 800 && cache.usage.entries == 2)
        cache.insert(Self.entry(bytes: 2000), for: Self.key("huge"), readAt: cache.generation)
        #expect(cache.lookup(Self.key("huge")) == nil && cache.usage.entries == 2, "an entry over the whole budget is not kept")
    }

    @Test func testAReadThatRacedAnInvalidationIsNotKept() {
        let cache = AssetModelCache(budgetBytes: 1000, telemetry: nil)
        let before = cache.generation
        cache.invalidate(tenantId: "t", assetId: "a")
        cache.insert(Self.entry(bytes: 10), for: Self.key("a"), readAt: before)
        #expect(cache.lookup(Self.key("a")) == nil)
        cache.insert(Self.entry(bytes: 10), for: Self.key("a"), readAt: cache.generation)
        cache.invalidate(tenantId: "", assetId: nil)
        #expect(cache.lookup(Self.key("a")) == nil && cache.usage.bytes == 0, "nil asset: everything goes")
    }

    /// Through the API: the second detect is a hit, a retrain is seen at once, and /metrics counts it.
    @Test func testDetectDecodesOncePerTrainedModel() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let metrics = ["cpu_pct", "memory_pct", "bandwidth_mbps", "latency_ms", "error_count"]
        let train = try AnomalyRouteTests.json([
            "asset_id": "router-9", "metrics": metrics, "samples": try AnomalyRouteTests.series(count: 300), "n_estimators": 20, "seed": 1,
        ])
        let detect = try AnomalyRouteTests.json(["asset_id": "router-9", "samples": try AnomalyRouteTests.series(count: 5, offset: 300)])
        try await app.test(.router) { client in
            let (_, first) = try await AnomalyRouteTests.post(client, "/anomaly/train", train)
            let firstId = try #require(first["model_id"] as? String)
            for _ in 0..<3 {
                let (answer, body) = try await AnomalyRouteTests.post(client, "/anomaly/detect", detect)
                #expect(answer.status == .ok && body["model_id"] as? String == firstId)
            }
            let (_, second) = try await AnomalyRouteTests.post(client, "/anomaly/train", train)
            let secondId = try #require(second["model_id"] as? String)
            #expect(secondId != firstId)
            let (_, after) = try await AnomalyRouteTests.post(client, "/anomaly/detect", detect)
            #expect(after["model_id"] as? String == secondId, "the retrained model serves at once")
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains(#"anomaly_model_cache_requests_total{result="hit"} 2"#), "\(text.split(separator: "\n").filter { $0.contains("cache") })")
            #expect(text.contains(#"anomaly_model_cache_requests_total{result="miss"} 2"#))
            #expect(text.contains("anomaly_model_cache_bytes "))
        }
    }
}
