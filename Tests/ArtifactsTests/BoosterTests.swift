import Foundation
import Testing

@testable import Artifacts

@Suite("Booster (libxgboost C API)")
struct BoosterTests {
    @Test func testLinkedLibraryIsDebiansXGBoost17() {
        let version = XGBoostLibrary.version
        print("linked libxgboost \(XGBoostLibrary.versionString)")
        #expect(version.major == 1 && version.minor == 7, "Debian bookworm ships libxgboost 1.7.x")
    }

    @Test func testDefaultStoreBoosterLoads() throws {
        let store = try MLflowStore(root: Fixtures.defaultStore)
        let reference = try #require(try ModelSelection.defaultReference(in: store))
        let location = try store.resolve(reference)
        let booster = try Booster(contentsOf: location.boosterFile)
        #expect(booster.featureCount > 20)
        #expect(booster.boostedRounds > 0)
        #expect(booster.objective == "binary:logistic")
    }

    /// libxgboost 1.7 ignores the base_score that xgboost >= 2 saves (e.g. "[3.72E-1]"): without
    /// the correction the probabilities are wrong, with it they match Python.
    @Test func testBaseScoreTrapIsCorrected() throws {
        var sawTrap = false
        for file in try Fixtures.vectorFiles() {
            let vector = try Fixtures.vector(file)
            let store = try MLflowStore(root: Fixtures.url(vector.mlruns))
            let location = try store.resolve(vector.run_id)
            let corrected = try Booster(contentsOf: location.boosterFile)
            guard corrected.baseScoreCorrected else { continue }
            sawTrap = true
            let naive = try Booster(contentsOf: location.boosterFile, correctBaseScore: false)
            let model = try HazardModel(location: location)
            var raw: [Double] = []
            for reading in vector.readings { raw += model.featureNames.map { reading[$0]! } }
            var scaled = [Float](repeating: 0, count: raw.count)
            raw.withUnsafeBufferPointer { input in
                scaled.withUnsafeMutableBufferPointer { model.scaler.transform(rows: input, count: vector.readings.count, into: $0) }
            }
            let right = try scaled.withUnsafeBufferPointer { try corrected.predict($0, rows: vector.readings.count) }
            let wrong = try scaled.withUnsafeBufferPointer { try naive.predict($0, rows: vector.readings.count) }
            let rightError = zip(right, vector.probabilities).map { abs(Double($0) - $1) }.max() ?? 1
            let wrongError = zip(wrong, vector.probabilities).map { abs(Double($0) - $1) }.max() ?? 0
            print("base_score trap \(vector.case): saved \(vector.base_score ?? "?"), max error uncorrected \(wrongError), corrected \(rightError)")
            #expect(wrongError > 1e-3, "\(vector.case): without the correction libxgboost 1.7 is measurably wrong")
            #expect(rightError <= 1e-6, "\(vector.case): with the correction it matches Python")
        }
        #expect(sawTrap, "at least one fixture was saved by xgboost >= 2 with a base_score 1.7 ignores")
    }

    @Test func testDenseAndDMatrixEntryPointsAgree() throws {
        let location = try MLflowStore(root: Fixtures.defaultStore).resolve(
            try #require(try ModelSelection.defaultReference(in: try MLflowStore(root: Fixtures.defaultStore))))
        let booster = try Booster(contentsOf: location.boosterFile)
        var generator = SystemRandomNumberGenerator()
        let rows = 300
        let values = (0..<(rows * booster.featureCount)).map { _ in Float.random(in: -3...3, using: &generator) }
        let dense = try values.withUnsafeBufferPointer { try booster.predict($0, rows: rows) }
        let dmatrix = try values.withUnsafeBufferPointer { try booster.predictViaDMatrix($0, rows: rows) }
        #expect(dense == dmatrix)
    }

    /// One booster is shared by every request: concurrent predictions must give identical results.
    @Test func testConcurrentPredictionsAreIdentical() async throws {
        let location = try MLflowStore(root: Fixtures.defaultStore).resolve(
            try #require(try ModelSelection.defaultReference(in: try MLflowStore(root: Fixtures.defaultStore))))
        let booster = try Booster(contentsOf: location.boosterFile)
        let rows = 257
        let values = (0..<(rows * booster.featureCount)).map { Float(($0 * 7919) % 1000) / 250 - 2 }
        let expected = try values.withUnsafeBufferPointer { try booster.predict($0, rows: rows) }
        try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0..<16 {
                group.addTask {
                    var last: [Float] = []
                    for _ in 0..<20 { last = try values.withUnsafeBufferPointer { try booster.predict($0, rows: rows) } }
                    return last
                }
            }
            for try await result in group { #expect(result == expected) }
        }
    }

    @Test func testMalformedBoosterBytesAreRefused() {
        for bytes: [UInt8] in [[], [0x7B], Array("{\"learner\": 3}".utf8), Array("{i\u{4}abcd".utf8), [UInt8](repeating: 0xFF, count: 64)] {
            #expect(throws: ArtifactError.self) { try Booster(bytes: bytes) }
        }
    }

    @Test func testBaseScoreParsingAcceptsScalarAndVectorForms() {
        #expect(BoosterFile.parseBaseScore("5E-1") == 0.5)
        #expect(BoosterFile.parseBaseScore("[3.72E-1]") == 0.372)
        #expect(BoosterFile.parseBaseScore("[1E-1,2E-1]") == nil)
        #expect(BoosterFile.parseBaseScore("x") == nil)
    }
}
