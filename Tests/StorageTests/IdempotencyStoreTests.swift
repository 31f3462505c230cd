import Foundation
import Storage
import Testing

/// Receipts claimed with the rows they answer for, on every back end: a key is claimed once,
/// a second claim writes nothing, an expired key is free again.
@Suite("Idempotency receipts")
struct IdempotencyStoreTests {
    static func receipt(_ key: String, tenant: String = "t1", body: String = "{\"ok\":1}", expires: Date = Date().addingTimeInterval(86_400))
        -> IdempotencyReceipt
    {
        IdempotencyReceipt(tenantId: tenant, key: key, fingerprint: "fp-\(body.count)", status: 200, body: Array(body.utf8), expiresAt: expires)
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func aKeyIsClaimedOnceWithItsRows(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let (samples, scores) = StoreContractTests.detection(count: 5, asset: "a-1")
            let first = Self.receipt("key-1", body: "{\"answer\":\"first\"}")
            try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "a-1", samples: samples, scores: scores, receipt: first)
            await #expect(throws: IdempotencyKeyTaken.self, "\(backend): the same key again") {
                try await stores.anomalies.recordDetection(
                    tenantId: "t1", assetId: "a-1", samples: samples, scores: scores, receipt: Self.receipt("key-1", body: "{\"answer\":\"second\"}"))
            }
            let stored = try await stores.anomalies.samples(tenantId: "t1", assetId: "a-1", from: nil, to: nil, limit: 100)
            #expect(stored.count == 5, "\(backend): the refused write stored nothing")
            let kept = try await stores.receipts.receipt(tenantId: "t1", key: "key-1", now: Date())
            #expect(kept?.body == first.body && kept?.fingerprint == first.fingerprint && kept?.status == 200, "\(backend): the first answer is kept")
            #expect(try await stores.receipts.receipt(tenantId: "t2", key: "key-1", now: Date()) == nil, "\(backend): keys are per tenant")
            // Another tenant may use the same key.
            try await stores.anomalies.recordDetection(
                tenantId: "t2", assetId: "a-1", samples: samples, scores: scores, receipt: Self.receipt("key-1", tenant: "t2"))
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func anExpiredKeyIsFreeAgainAndPurged(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let rows = [FeedbackRecord(tenantId: "t1", runId: "r", features: ["x": 1], outcome: 1, probability: 0.9, moduleId: nil)]
            try await stores.feedback.recordFeedback(rows, receipt: Self.receipt("old", expires: Date().addingTimeInterval(-1)))
            try await stores.feedback.recordFeedback(rows, receipt: Self.receipt("live"))
            #expect(try await stores.receipts.receipt(tenantId: "t1", key: "old", now: Date()) == nil, "\(backend): an expired receipt is not served")
            try await stores.feedback.recordFeedback(rows, receipt: Self.receipt("old", body: "{\"again\":true}"))
            #expect(try await stores.receipts.receipt(tenantId: "t1", key: "old", now: Date())?.body == Array("{\"again\":true}".utf8))
            #expect(try await stores.feedback.feedback(tenantId: "t1", limit: 10).count == 3)
            let purged = try await stores.receipts.purge(now: Date().addingTimeInterval(2 * 86_400))
            #expect(purged == 2, "\(backend): both receipts expire within two days")
            #expect(try await stores.receipts.receipt(tenantId: "t1", key: "live", now: Date()) == nil)
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func aTakenKeyRollsBackTheModelItWouldSave(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let model = ModelRecord(tenantId: "t1", modelType: "isolation_forest", modelVersion: "1", assetId: "a-1", trainingDate: Date())
            let saved = try await stores.anomalies.saveModel(model) { saved in Self.receipt("train-1", body: "{\"id\":\(saved.id ?? -1)}") }
            let receipt = try await stores.receipts.receipt(tenantId: "t1", key: "train-1", now: Date())
            #expect(receipt?.body == Array("{\"id\":\(saved.id ?? -1)}".utf8), "\(backend): the answer names the stored row")
            var second = model
            second.modelVersion = "2"
            await #expect(throws: IdempotencyKeyTaken.self) {
                _ = try await stores.anomalies.saveModel(second) { _ in Self.receipt("train-1") }
            }
            let models = try await stores.anomalies.models(tenantId: "t1", assetId: "a-1")
            #expect(models.map(\.modelVersion) == ["1"] && models.first?.status == "active", "\(backend): no second model, the first still active")
        }
    }

    /// Eight writers with one key at once: exactly one commits, the others are told the key is taken.
    @Test(arguments: TestDatabases.Backend.allCases)
    func concurrentClaimsOfOneKeyWriteOnce(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let (samples, scores) = StoreContractTests.detection(count: 50, asset: "a-9")
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        do {
                            try await stores.anomalies.recordDetection(
                                tenantId: "t1", assetId: "a-9", samples: samples, scores: scores, receipt: Self.receipt("race"))
                            return "written"
                        } catch is IdempotencyKeyTaken {
                            return "taken"
                        } catch {
                            return "failed: \(error)"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.sorted() == ["taken", "taken", "taken", "taken", "taken", "taken", "taken", "written"], "\(backend): \(outcomes)")
            let stored = try await stores.anomalies.samples(tenantId: "t1", assetId: "a-9", from: nil, to: nil, limit: 1000)
            #expect(stored.count == 50, "\(backend): the batch is stored once")
        }
    }
}
