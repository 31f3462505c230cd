import Foundation
import Testing

@testable import Artifacts

/// Explanations must be libxgboost's own `pred_contribs` (exact TreeSHAP) to 1e-5, sum to the margin,
/// and come out ranked.
@Suite("TreeSHAP explanations against the C API")
struct TreeSHAPTests {
    static let tolerance: Float = 1e-5

    /// Both evaluations: the leaf tables (serving) and the recursion (trees the tables cannot hold).
    @Test(arguments: [true, false])
    /// (Tens of seconds of CPU in a debug build: it yields between chunks of readings, so the
    /// suites running beside it get the cooperative pool's threads meanwhile.)
    func testContributionsMatchTheCAPIOnEveryFixtureVector(tables: Bool) async throws {
        for item in try Fixtures.loadedVectors() {
            let booster = item.model.booster
            let shap = TreeSHAP(dump: try ForestDump(json: booster.modelJSON()), tables: tables)
            #expect(shap.tabledTrees == (tables ? booster.boostedRounds : 0))
            let n = item.vector.readings.count
            let width = booster.featureCount + 1
            let oracle = try item.scaled.withUnsafeBufferPointer { try booster.contributions($0, rows: n) }
            #expect(oracle.count == n * width)
            var worst: Float = 0
            for first in stride(from: 0, to: n, by: 20) {
                await Task.yield()
                try item.scaled.withUnsafeBufferPointer { rows in
                    for row in first..<min(n, first + 20) {
                        let ours = shap.contributions(rows.baseAddress! + row * booster.featureCount)
                        try #require(ours.count == width)
                        for j in 0..<width { worst = max(worst, abs(ours[j] - oracle[row * width + j])) }
                    }
                }
            }
            print("TreeSHAP \(tables ? "tables" : "recursion") \(item.vector.case): max |swift - libxgboost| = \(worst) over \(n) readings x \(width) values")
            #expect(worst <= Self.tolerance, "\(item.vector.case)")
        }
    }

    /// The AVX-512 kernel (a tree's cold sets, leaves and sum) and the Swift loops: the same float
    /// operations in the same order, so the same bits, on every fixture vector's readings with
    /// some values missing.
    @Test func testTheLeafKernelGivesTheSwiftLoopsBits() throws {
        for item in try Fixtures.loadedVectors() {
            let dump = try ForestDump(json: item.model.booster.modelJSON())
            let kernel = TreeSHAP(dump: dump, kernel: true), swift = TreeSHAP(dump: dump, kernel: false)
            #expect(kernel.usesKernel == LeafTables.kernelAvailable && !swift.usesKernel)
            #expect(LeafTables.kernelAvailable == CompiledForest.kernelAvailable, "the leaf layout the kernel reads")
            let width = item.model.booster.featureCount
            var rows = Array(item.scaled.prefix(100 * width))
            for i in stride(from: 0, to: rows.count, by: 7) { rows[i] = .nan }
            let count = rows.count / width
            let (a, b) = rows.withUnsafeBufferPointer { ($0.baseAddress.map { kernel.contributions($0, count: count) } ?? [], $0.baseAddress.map { swift.contributions($0, count: count) } ?? []) }
            #expect(a.count == count * (width + 1) && a.map(\.bitPattern) == b.map(\.bitPattern), "\(item.vector.case)")
        }
    }

    @Test func testContributionsWithMissingValuesMatchTheCAPI() throws {
        let item = try #require(try Fixtures.loadedVectors().first { $0.vector.run_name?.contains("champion") == true })
        let booster = item.model.booster
        let shap = try #require(item.model.shap)
        let width = booster.featureCount
        var rows = Array(item.scaled.prefix(50 * width))
        for i in stride(from: 0, to: rows.count, by: 3) { rows[i] = .nan }
        let oracle = try rows.withUnsafeBufferPointer { try booster.contributions($0, rows: 50) }
        rows.withUnsafeBufferPointer { p in
            for row in 0..<50 {
                let ours = shap.contributions(p.baseAddress! + row * width)
                for j in 0...width {
                    #expect(abs(ours[j] - oracle[row * (width + 1) + j]) <= Self.tolerance, "row \(row) value \(j)")
                }
            }
        }
    }

    /// (Explained 25 readings at a time with a yield between: see the test above.)
    @Test func testExplanationsSumToTheServedMarginAndAreRanked() async throws {
        for item in try Fixtures.loadedVectors() {
            let model = item.model
            var explanations: [Explanation] = [], top: [Explanation] = []
            for first in stride(from: 0, to: item.vector.readings.count, by: 25) {
                await Task.yield()
                let chunk = Array(item.vector.readings[first..<min(item.vector.readings.count, first + 25)])
                explanations += try model.explain(readings: chunk)
                top += try model.explain(readings: chunk, top: 3)
            }
            let n = item.vector.readings.count
            let margins = try item.scaled.withUnsafeBufferPointer { try model.booster.margins($0, rows: n) }
            let served = try model.predict(readings: item.vector.readings).map(\.probability)
            for (i, explanation) in explanations.enumerated() {
                #expect(explanation.contributions.count == model.featureCount)
                #expect(Set(explanation.contributions.map(\.feature)) == Set(model.featureNames))
                let sum = explanation.contributions.reduce(explanation.bias) { $0 + $1.value }
                #expect(abs(sum - Double(margins[i])) <= 1e-4, "\(item.vector.case) reading \(i): \(sum) vs \(margins[i])")
                #expect(explanation.margin == Double(margins[i]))
                #expect(explanation.probability == served[i])
                let sizes = explanation.contributions.map { abs($0.value) }
                #expect(sizes == sizes.sorted(by: >))
                #expect(top[i].contributions == Array(explanation.contributions.prefix(3)))
            }
        }
    }

    /// With the C API forced, explanations come from libxgboost and agree with the compiled ones.
    @Test func testCAPIAndCompiledExplanationsAgree() throws {
        let compiled = try #require(try Fixtures.loadedVectors().first)
        let capi = try HazardModel(location: compiled.location, predictor: .cAPI)
        let readings = Array(compiled.vector.readings.prefix(40))
        let a = try compiled.model.explain(readings: readings)
        let b = try capi.explain(readings: readings)
        for (x, y) in zip(a, b) {
            #expect(x.margin == y.margin && x.probability == y.probability)
            #expect(abs(x.bias - y.bias) <= 1e-5)
            let byName = Dictionary(uniqueKeysWithValues: y.contributions.map { ($0.feature, $0.value) })
            for c in x.contributions { #expect(abs(c.value - byName[c.feature]!) <= 1e-5, "\(c.feature)") }
        }
    }
}
