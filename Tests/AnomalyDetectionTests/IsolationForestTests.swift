import ComputeSupport
import Foundation
import Testing

@testable import AnomalyDetection

@Suite("IsolationForest")
struct IsolationForestTests {
    /// 1000 Gaussian inliers in 4-D and 20 far outliers; labels 1 for outliers.
    static func blobs(seed: UInt64 = 7) -> (data: [Double], rows: Int, labels: [Int]) {
        var rng = SplitMix64(seed: seed)
        func normal() -> Double {
            let u = max(rng.nextUnit(), 1e-12), v = rng.nextUnit()
            return sqrt(-2 * log(u)) * cos(2 * .pi * v)
        }
        var data: [Double] = []
        var labels: [Int] = []
        for _ in 0..<1000 {
            for _ in 0..<4 { data.append(normal()) }
            labels.append(0)
        }
        for _ in 0..<20 {
            for _ in 0..<4 { data.append(normal() * 0.5 + (rng.nextUnit() < 0.5 ? 6 : -6)) }
            labels.append(1)
        }
        return (data, labels.count, labels)
    }

    static func auc(_ scores: [Double], _ labels: [Int]) -> Double {
        let positives = zip(scores, labels).filter { $0.1 == 1 }.map(\.0)
        let negatives = zip(scores, labels).filter { $0.1 == 0 }.map(\.0)
        var wins = 0.0
        for p in positives { for n in negatives { wins += p > n ? 1 : (p == n ? 0.5 : 0) } }
        return wins / Double(positives.count * negatives.count)
    }

    @Test func testFarOutliersScoreHigherThanInliers() throws {
        let (data, rows, labels) = Self.blobs()
        let forest = try IsolationForest.fit(data, rows: rows, featureCount: 4)
        let scores = forest.anomalyScores(data, rows: rows)
        #expect(scores.allSatisfy { $0 > 0 && $0 <= 1 })
        let auc = Self.auc(scores, labels)
        #expect(auc > 0.99, "AUC \(auc)")
        #expect(forest.samplesPerTree == 256)
    }

    @Test func testSameSeedSameForestDifferentSeedDifferentForest() throws {
        let (data, rows, _) = Self.blobs()
        let a = try IsolationForest.fit(data, rows: rows, featureCount: 4, parameters: .init(seed: 1))
        let b = try IsolationForest.fit(data, rows: rows, featureCount: 4, parameters: .init(seed: 1))
        let c = try IsolationForest.fit(data, rows: rows, featureCount: 4, parameters: .init(seed: 2))
        #expect(a.anomalyScores(data, rows: rows) == b.anomalyScores(data, rows: rows))
        #expect(a.anomalyScores(data, rows: rows) != c.anomalyScores(data, rows: rows))
    }

    @Test func testContaminationSetsTheOffsetAtThatTrainingPercentile() throws {
        let (data, rows, _) = Self.blobs()
        let forest = try IsolationForest.fit(data, rows: rows, featureCount: 4, parameters: .init(contamination: 0.05))
        let flagged = forest.decisionFunction(data, rows: rows).filter { $0 < 0 }.count
        #expect(abs(Double(flagged) / Double(rows) - 0.05) < 0.01, "flagged \(flagged) of \(rows)")
        let auto = try IsolationForest.fit(data, rows: rows, featureCount: 4)
        #expect(auto.offset == -0.5)
    }

    @Test func testSerialisedForestScoresIdentically() throws {
        let (data, rows, _) = Self.blobs()
        let forest = try IsolationForest.fit(data, rows: rows, featureCount: 4, parameters: .init(nEstimators: 50, maxFeatures: 0.5, contamination: 0.1))
        let bytes = forest.serialized()
        let restored = try IsolationForest(serialized: bytes)
        #expect(restored.anomalyScores(data, rows: rows) == forest.anomalyScores(data, rows: rows))
        #expect(restored.offset == forest.offset)
        #expect(restored.parameters == forest.parameters)
        // Every truncation and a corrupted header are refused, never a trap.
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
            #expect(throws: (any Error).self) { try IsolationForest(serialized: Array(bytes.prefix(cut))) }
        }
        var corrupt = bytes
        corrupt[0] = 0
        #expect(throws: (any Error).self) { try IsolationForest(serialized: corrupt) }
    }

    /// The interleaved, branch-free scorer walks exactly the paths the plain tree walk does:
    /// row counts that are not multiples of 8, NaN values and one-row chunks included.
    @Test(arguments: [1, 7, 9, 255, 256, 1021])
    func testBatchScoringEqualsTheTreeWalk(rows: Int) throws {
        let (train, trainRows, _) = Self.blobs(seed: 3)
        let forest = try IsolationForest.fit(train, rows: trainRows, featureCount: 4, parameters: .init(nEstimators: 25, seed: 5))
        var rng = SplitMix64(seed: UInt64(rows))
        var data = (0..<(rows * 4)).map { _ in (rng.nextUnit() - 0.5) * 12 }
        if rows > 3 { data[5] = .nan }
        let batch = forest.meanPathLengths(data, rows: rows)
        for r in 0..<rows {
            let expected = data.withUnsafeBufferPointer { buffer in
                forest.trees.map { $0.pathLength(buffer.baseAddress! + r * 4) }.reduce(0, +) / Double(forest.trees.count)
            }
            #expect(abs(batch[r] - expected) <= 1e-12 * max(1, expected), "row \(r) of \(rows)")
        }
    }

    /// Trees deeper than the complete layout allows (max_samples 5000: depth limit 13) use the
    /// linked layout; it too walks exactly the plain tree walk's paths.
    @Test func testDeepTreesUseTheLinkedLayoutAndScoreTheSame() throws {
        var rng = SplitMix64(seed: 21)
        let rows = 5000
        let train = (0..<(rows * 3)).map { _ in rng.nextUnit() * 100 }
        let forest = try IsolationForest.fit(train, rows: rows, featureCount: 3, parameters: .init(nEstimators: 10, maxSamples: rows, seed: 2))
        #expect(forest.trees.contains { PackedForest.depth($0) > PackedForest.implicitDepthLimit }, "the forest must need the linked layout")
        let probe = Array(train.prefix(300 * 3))
        let batch = forest.meanPathLengths(probe, rows: 300)
        for r in 0..<300 {
            let expected = probe.withUnsafeBufferPointer { buffer in
                forest.trees.map { $0.pathLength(buffer.baseAddress! + r * 3) }.reduce(0, +) / Double(forest.trees.count)
            }
            #expect(abs(batch[r] - expected) <= 1e-12 * max(1, expected), "row \(r)")
        }
    }

    @Test func testAveragePathLengthMatchesTheFormula() {
        #expect(IsolationForest.averagePathLength(1) == 0)
        #expect(IsolationForest.averagePathLength(2) == 1)
        // c(256) from scikit-learn's _average_path_length.
        #expect(abs(IsolationForest.averagePathLength(256) - 10.244770920116851) < 1e-9)
    }

    @Test func testBadTrainingInputIsRefused() {
        #expect(throws: IsolationForest.FitError.self) { try IsolationForest.fit([1], rows: 1, featureCount: 1) }
        #expect(throws: IsolationForest.FitError.self) { try IsolationForest.fit([1, .nan, 3, 4], rows: 2, featureCount: 2) }
        #expect(throws: IsolationForest.FitError.self) {
            try IsolationForest.fit([1, 2, 3, 4], rows: 2, featureCount: 2, parameters: .init(contamination: 0.9))
        }
    }
}
