import AnomalyDetection
import Artifacts
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import InferenceAPI
import Storage
import Testing

/// `GET /anomaly/episodes` pages: a cursor carries the filters of its list, so following `next`
/// without repeating them stays in the same list (it once listed every asset's episodes).
@Suite("Episode list cursors")
struct EpisodeListTests {
    /// Three closed episodes for each of two assets, a minute apart.
    static func router() async throws -> Router<AppRequestContext> {
        let stores = Stores.memory()
        let policy = EpisodePolicy(outbox: false)
        for asset in ["asset-a", "asset-b"] {
            var minute = 0.0
            var observations: [EpisodeObservation] = []
            for _ in 0..<3 {
                for isAnomaly in [true, true, false, false, false, false, false] {
                    observations.append(
                        EpisodeObservation(
                            timestamp: Date(timeIntervalSince1970: 1_800_000_000 + minute * 60), score: isAnomaly ? 0.9 : 0.1, isAnomaly: isAnomaly,
                            metric: "cpu"))
                    minute += 1
                }
            }
            _ = try await stores.episodes.recordEpisodes(tenantId: "default", kind: "anomaly", observations: [asset: observations], policy: policy)
        }
        let models = ModelService(
            store: try MLflowStore(root: TestApp.repoRoot.appendingPathComponent("mlruns")), configuredReference: nil, selectMetric: "roc_auc")
        try await models.activate(try await models.startupReference())
        let services = await AppServices(configuration: Configuration(), models: models, stores: stores, telemetry: Telemetry())
        return buildRouter(services: services)
    }

    @Test func testTheCursorKeepsTheListsFilters() async throws {
        try await Application(router: try await Self.router()).test(.router) { client in
            let (all, everything) = try await AnomalyRouteTests.get(client, "/anomaly/episodes")
            #expect(all.status == .ok && everything["count"] as? Int == 6, "\(everything)")

            var ids: [String] = []
            var assets: Set<String> = []
            var (response, page) = try await AnomalyRouteTests.get(client, "/anomaly/episodes?asset_id=asset-a&state=closed&limit=1")
            while true {
                #expect(response.status == .ok, "\(page)")
                for row in page["episodes"] as? [[String: Any]] ?? [] {
                    ids.append(row["id"] as? String ?? "")
                    assets.insert(row["asset_id"] as? String ?? "")
                }
                guard let next = page["next"] as? String else { break }
                // The filters are not repeated: the cursor carries them.
                (response, page) = try await AnomalyRouteTests.get(client, "/anomaly/episodes?limit=1&cursor=\(next)")
            }
            #expect(assets == ["asset-a"] && ids.count == 3 && Set(ids).count == 3, "\(assets) \(ids)")

            let (_, first) = try await AnomalyRouteTests.get(client, "/anomaly/episodes?asset_id=asset-a&limit=1")
            let next = try #require(first["next"] as? String)
            // Repeating the same filters is fine; changing them is a 400 naming the filter.
            let (same, _) = try await AnomalyRouteTests.get(client, "/anomaly/episodes?asset_id=asset-a&limit=1&cursor=\(next)")
            #expect(same.status == .ok)
            let other = try await client.execute(uri: "/anomaly/episodes?asset_id=asset-b&cursor=\(next)", method: .get)
            #expect(other.status == .badRequest)
            let fields = (try? Envelope.decode(other))?.error.details.compactMap(\.field) ?? []
            #expect(fields == ["asset_id"], "\(String(buffer: other.body))")
        }
    }
}
