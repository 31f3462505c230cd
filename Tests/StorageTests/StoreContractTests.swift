import Foundation
import Storage
import Testing

/// One repository suite per store, run against PostgreSQL, SQLite and memory alike (PostgreSQL
/// needs `TEST_DATABASE_URL`, which `make test` sets).
@Suite("Store contract")
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

    @Test(arguments: TestDatabases.Backend.allCases)
    func detectionRoundTrip(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in try await Self.checkDetectionRoundTrip(stores.anomalies, backend) }
    }

    static func checkDetectionRoundTrip(_ store: some AnomalyStore, _ backend: TestDatabases.Backend) async throws {
        let (samples, scores) = detection(count: 10_000, asset: "router-1")
        try await store.recordDetection(tenantId: "t1", assetId: "router-1", samples: samples, scores: scores)
        let all = try await store.scores(ScoreQuery(tenantId: "t1", assetId: "router-1", limit: 20_000))
        #expect(all.count == 10_000, "\(backend): exactly the acknowledged rows")
        #expect(all.first?.timestamp == scores.last?.timestamp, "\(backend): newest first")
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
        #expect(other.isEmpty, "\(backend): another tenant sees nothing")

        let history = try await store.recentSamples(tenantId: "t1", assetId: "router-1", before: samples[100].timestamp, limit: 5)
        #expect(history.map(\.timestamp) == samples[95..<100].map(\.timestamp), "\(backend): oldest first, before the cut")
        #expect(history.last?.metrics == samples[99].metrics)
        let range = try await store.samples(tenantId: "t1", assetId: "router-1", from: samples[10].timestamp, to: samples[20].timestamp, limit: 1000)
        #expect(range.count == 10)
        let (others, otherScores) = detection(count: 3, asset: "switch-2")
        try await store.recordDetection(tenantId: "t1", assetId: "switch-2", samples: others, scores: otherScores)
        let assets = try await store.assets(tenantId: "t1")
        #expect(assets.map(\.assetId) == ["router-1", "switch-2"] && assets.map(\.samples) == [10_000, 3], "\(backend): \(assets)")
        #expect(abs((assets.first?.lastSample?.timeIntervalSince1970 ?? 0) - samples.last!.timestamp.timeIntervalSince1970) < 1e-5)
        #expect(try await store.assets(tenantId: "t2").isEmpty)
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func modelsRetirePrevious(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in try await Self.checkModelsRetirePrevious(stores.anomalies) }
    }

    static func checkModelsRetirePrevious(_ store: some AnomalyStore) async throws {
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

    /// A failing query reaches callers as `StoreError` (what the HTTP layer maps to 503), not as
    /// the driver's error type, and names the SQLSTATE without the query or its values.
    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason))
    func testPostgresFailuresAreStoreErrors() async throws {
        try await TestDatabases.withPostgres { database in
            let store = PostgresAnomalyStore(database: database)
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

    @Test(arguments: TestDatabases.Backend.allCases)
    func feedbackRoundTrip(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let rows = (0..<2500).map { (i: Int) -> FeedbackRecord in
                let tenant = i % 5 == 0 ? "t2" : "t1"
                let module: String? = i % 4 == 0 ? nil : "m-\(i)"
                let features: [String: Double] = ["soc_pct": Double(i), "temp_c": 20.5]
                return FeedbackRecord(
                    tenantId: tenant, runId: "run-\(i % 3)", features: features, outcome: i % 2, probability: Double(i) / 2500, moduleId: module)
            }
            try await stores.feedback.recordFeedback(rows)
            let t1 = try await stores.feedback.feedback(tenantId: "t1", limit: 10_000)
            #expect(t1.count == 2000, "\(backend): the tenant's rows only")
            let newest = try #require(rows.last { $0.tenantId == "t1" })
            #expect(t1.first?.features == newest.features && t1.first?.moduleId == newest.moduleId, "\(backend): newest first")
            #expect(t1.first?.probability == newest.probability && t1.first?.outcome == newest.outcome && t1.first?.runId == newest.runId)
            #expect(t1.last?.moduleId == "m-1", "\(backend): oldest last")
            let t2 = try await stores.feedback.feedback(tenantId: "t2", limit: 1000)
            #expect(t2.count == 500 && t2.last?.moduleId == nil, "\(backend): a missing module id stays missing")
            #expect(try await stores.feedback.feedback(tenantId: "t2", limit: 7).count == 7)
            #expect(try await stores.feedback.feedback(tenantId: "t3", limit: 7).isEmpty)
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func auditLogKeepsEveryActivation(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            for run in ["run-a", "run-b", "run-a"] {
                try await stores.audit.recordActivation(
                    ModelRecord(tenantId: "default", modelType: "xgboost_hazard", modelVersion: run, assetId: nil, trainingDate: Self.base, artifactPath: "/m/\(run)"))
            }
            _ = try await stores.anomalies.saveModel(
                ModelRecord(tenantId: "default", modelType: "isolation_forest", modelVersion: "1", assetId: "router-1", trainingDate: Self.base))
            let history = try await stores.audit.activations(tenantId: "default", limit: 10)
            #expect(history.map(\.modelVersion) == ["run-a", "run-b", "run-a"], "\(backend): newest first, asset models not listed")
            #expect(history.map(\.status) == ["active", "retired", "retired"])
            #expect(history.first?.artifactPath == "/m/run-a")
            #expect(try await stores.audit.activations(tenantId: "default", limit: 2).count == 2)
            #expect(try await stores.audit.activations(tenantId: "other", limit: 10).isEmpty)
            // The audit trail shares model_metadata: /anomaly/models lists it as it did.
            #expect(try await stores.anomalies.models(tenantId: "default", assetId: nil).count == 4)
        }
    }
}
