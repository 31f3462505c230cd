import AnomalyDetection
import Foundation
import Testing

/// One repository suite, run against PostgreSQL and SQLite alike.
@Suite("Anomaly store contract")
struct StoreContractTests {
    static let base = Date(timeIntervalSince1970: 1_795_000_000.123456)

    static func detection(count: Int, asset: String, start: Date = base) -> ([MetricSample], [AnomalyScoreRecord]) {
        var samples: [MetricSample] = []
        var scores: [AnomalyScoreRecord] = []
        for i in 0..<count {
            let time = start.addingTimeInterval(Double(i) * 60)
            samples.append(MetricSample(timestamp: time, metrics: ["cpu": Double(i % 100), "latency_ms": 20 + Double(i % 7)]))
            scores.append(
                AnomalyScoreRecord(
                    tenantId: "t1", assetId: asset, metricName: i % 2 == 0 ? "cpu" : "all", score: Double(i % 10) / 10,
                    isAnomaly: i % 10 == 9, threshold: 0.6, method: "isolation_forest", modelId: i % 3 == 0 ? nil : "m-1",
                    metadata: "{\"i\": \(i)}", timestamp: time))
        }
        return (samples, scores)
    }

    static func checkDetectionRoundTrip(_ store: some AnomalyStore) async throws {
        try await store.migrate()
        let (samples, scores) = detection(count: 10_000, asset: "router-1")
        try await store.recordDetection(tenantId: "t1", assetId: "router-1", samples: samples, scores: scores)
        let all = try await store.scores(ScoreQuery(tenantId: "t1", assetId: "router-1", limit: 20_000))
        #expect(all.count == 10_000, "\(store.backend): exactly the acknowledged rows")
        #expect(all.first?.timestamp == scores.last?.timestamp, "\(store.backend): newest first")
        #expect(abs((all.first?.timestamp.timeIntervalSince1970 ?? 0) - scores.last!.timestamp.timeIntervalSince1970) < 1e-5)
        #expect(all.first?.modelId == scores.last?.modelId)
        #expect(all.last?.modelId == nil)
        let anomalies = try await store.scores(ScoreQuery(tenantId: "t1", assetId: "router-1", anomaliesOnly: true, limit: 20_000))
        #expect(anomalies.count == 1000 && anomalies.allSatisfy(\.isAnomaly))
        let cpu = try await store.scores(ScoreQuery(tenantId: "t1", assetId: "router-1", metricName: "cpu", limit: 20_000))
        #expect(cpu.count == 5000)
        let recent = try await store.scores(
            ScoreQuery(tenantId: "t1", assetId: "router-1", since: samples[9_990].timestamp, limit: 100))
        #expect(recent.count == 10)
        let other = try await store.scores(ScoreQuery(tenantId: "t2", assetId: "router-1", limit: 10))
        #expect(other.isEmpty, "\(store.backend): another tenant sees nothing")

        let history = try await store.recentSamples(tenantId: "t1", assetId: "router-1", before: samples[100].timestamp, limit: 5)
        #expect(history.map(\.timestamp) == samples[95..<100].map(\.timestamp), "\(store.backend): oldest first, before the cut")
        #expect(history.last?.metrics == samples[99].metrics)
        let range = try await store.samples(tenantId: "t1", assetId: "router-1", from: samples[10].timestamp, to: samples[20].timestamp, limit: 1000)
        #expect(range.count == 10)
    }

    static func checkModelsRetirePrevious(_ store: some AnomalyStore) async throws {
        try await store.migrate()
        let first = try await store.saveModel(
            ModelRecord(tenantId: "t1", modelType: "isolation_forest", modelVersion: "1", assetId: "router-1", trainingDate: base, artifact: [1, 2, 3]))
        let second = try await store.saveModel(
            ModelRecord(tenantId: "t1", modelType: "isolation_forest", modelVersion: "2", assetId: "router-1", trainingDate: base, artifact: [4, 5]))
        _ = try await store.saveModel(
            ModelRecord(tenantId: "t1", modelType: "xgboost_hazard", modelVersion: "run-abc", assetId: nil, trainingDate: base))
        #expect(first.id != nil && second.id != nil && first.id != second.id)
        let active = try #require(try await store.activeModel(tenantId: "t1", assetId: "router-1", modelType: "isolation_forest"))
        #expect(active.modelVersion == "2" && active.artifact == [4, 5])
        let listed = try await store.models(tenantId: "t1", assetId: "router-1")
        #expect(listed.map(\.modelVersion) == ["2", "1"])
        #expect(listed.map(\.status) == ["active", "retired"])
        let hazard = try await store.activeModel(tenantId: "t1", assetId: nil, modelType: "xgboost_hazard")
        #expect(hazard?.modelVersion == "run-abc")
        #expect(try await store.models(tenantId: "t1", assetId: nil).count == 3)
        #expect(try await store.activeModel(tenantId: "t2", assetId: "router-1", modelType: "isolation_forest") == nil)
    }

    @Test func testSQLiteDetectionRoundTrip() async throws {
        try await TestDatabases.withSQLite { try await Self.checkDetectionRoundTrip($0) }
    }

    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason))
    func testPostgresDetectionRoundTrip() async throws {
        try await TestDatabases.withPostgres { try await Self.checkDetectionRoundTrip($0) }
    }

    @Test func testSQLiteModelsRetirePrevious() async throws {
        try await TestDatabases.withSQLite { try await Self.checkModelsRetirePrevious($0) }
    }

    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason))
    func testPostgresModelsRetirePrevious() async throws {
        try await TestDatabases.withPostgres { try await Self.checkModelsRetirePrevious($0) }
    }

    /// A failing query reaches callers as `StoreError` (what the HTTP layer maps to 503), not as
    /// the driver's error type, and names the SQLSTATE without the query or its values.
    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason))
    func testPostgresFailuresAreStoreErrors() async throws {
        try await TestDatabases.withPostgres { store in
            // Not migrated: the tables do not exist (SQLSTATE 42P01, undefined_table).
            do {
                _ = try await store.recentSamples(tenantId: "secret-tenant", assetId: "a-1", before: nil, limit: 5)
                Issue.record("a query on a missing table succeeded")
            } catch let error as StoreError {
                #expect(error.backend == "postgresql")
                #expect(error.message.contains("42P01"), "\(error.message)")
                #expect(!error.message.contains("secret-tenant") && !error.message.contains("SELECT"), "\(error.message)")
            }
            // In a transaction the driver wraps the failure (PostgresTransactionError): unwrapped too.
            let (samples, scores) = Self.detection(count: 3, asset: "a-1")
            let failed = await #expect(throws: StoreError.self) {
                try await store.recordDetection(tenantId: "t1", assetId: "a-1", samples: samples, scores: scores)
            }
            #expect(failed?.message.hasPrefix("transaction failed: ") == true && failed?.message.contains("42P01") == true, "\(failed?.message ?? "")")
        }
    }
}
