import CForestKernel
import Foundation
import Testing

@testable import Artifacts

/// The compiled forest must give the C API's margins and probabilities bit for bit, and serve
/// only when it does.
@Suite("CompiledForest against the C API")
struct CompiledForestTests {
    /// Rows that differ, by Float bit pattern, between the forest and the C API (margins and probabilities).
    static func differences(_ forest: CompiledForest, _ booster: Booster, _ rows: [Float]) throws -> [String] {
        let n = rows.count / booster.featureCount
        return try rows.withUnsafeBufferPointer { p in
            let (m, cm) = (try forest.margins(p, rows: n), try booster.margins(p, rows: n))
            let (q, cq) = (try forest.probabilities(p, rows: n), try booster.predict(p, rows: n))
            return (0..<n).filter { m[$0].bitPattern != cm[$0].bitPattern || q[$0].bitPattern != cq[$0].bitPattern }
                .map { "row \($0): margin \(m[$0]) vs \(cm[$0]), probability \(q[$0]) vs \(cq[$0])" }
        }
    }

    /// Edge rows built here, not by the code under test: for splits of the first trees, fixture
    /// readings with that split's feature set to the threshold, one ulp either side, NaN and ±inf
    /// (at least `minimum` rows: small forests get several readings per split).
    static func edgeRows(_ dump: ForestDump, readings scaled: [Float], trees: Int = 25, minimum: Int = 1200) -> [Float] {
        let width = dump.featureCount
        let readings = scaled.count / width
        let splits = dump.trees.prefix(trees).flatMap { tree in (0..<tree.nodeCount).filter { !tree.isLeaf($0) }.map { (tree, $0) } }
        let perSplit = minimum / max(1, 6 * splits.count) + 1
        var rows: [Float] = []
        for (k, (tree, node)) in repeatElement(splits, count: perSplit).joined().enumerated() {
            let base = Array(scaled[(k % readings) * width..<((k % readings) + 1) * width])
            let t = tree.condition[node]
            for value in [t, t.nextDown, t.nextUp, .nan, .infinity, -.infinity] {
                var row = base
                row[Int(tree.feature[node])] = value
                rows += row
            }
        }
        return rows
    }

    @Test func testCompiledForestServesEveryFixtureModel() throws {
        let loaded = try Fixtures.loadedVectors()
        #expect(loaded.count >= 4)
        for item in loaded {
            #expect(item.model.predictor == .compiled, "\(item.vector.case): \(item.model.predictorReason)")
            #expect(item.model.forest != nil)
            #expect(item.model.predictorReason.contains("bit for bit"))
            // The serving path's answers are the C API's, bit for bit, on the fixture readings.
            let n = item.vector.readings.count
            let served = try item.model.predict(readings: item.vector.readings).map(\.probability)
            let capi = try item.scaled.withUnsafeBufferPointer { try item.model.booster.predict($0, rows: n) }
            #expect(served.map(\.bitPattern) == capi.map(\.bitPattern), "\(item.vector.case)")
        }
    }

    /// The complete layout walked by the AVX-512 kernel (where the CPU has it) and by Swift, and
    /// the node lists.
    @Test(arguments: [(CompiledForest.completeDepthLimit, true), (CompiledForest.completeDepthLimit, false), (0, false)])
    func testEdgeRowsMatchTheCAPIBitForBit(completeDepthLimit: Int, kernel: Bool) async throws {
        for item in try Fixtures.loadedVectors(predictor: .cAPI) {
            await Task.yield()  // seconds of CPU a fixture in a debug build: the other suites' turn
            let booster = item.model.booster
            let dump = try ForestDump(json: booster.modelJSON())
            let forest = CompiledForest(dump: dump, completeDepthLimit: completeDepthLimit, kernel: kernel)
            let kernelExpected = kernel && CompiledForest.kernelAvailable && (dump.trees.map(\.depth).max() ?? 0) <= Int(FOREST_KERNEL_MAX_DEPTH)
            #expect(forest.kernelTables.isEmpty != kernelExpected, "\(item.vector.case): \(forest.layoutDescription)")
            let edges = Self.edgeRows(dump, readings: item.scaled)
            #expect(edges.count / dump.featureCount >= 1000, "\(item.vector.case): \(edges.count / dump.featureCount) edge rows")
            let probes = ForestProbes(dump: dump).values
            for (name, rows) in [("edge", edges), ("probe", probes), ("fixture", item.scaled)] {
                let found = try Self.differences(forest, booster, rows)
                #expect(found.isEmpty, "\(item.vector.case) \(forest.layoutDescription) \(name) rows: \(found.count) differ, \(found.prefix(3))")
            }
        }
    }

    /// Calls of every size take their own path (trees as lanes below 4 rows, rows as lanes in
    /// blocks of 16, with and without missing values): each must equal the C API.
    @Test(arguments: [true, false])
    func testEveryBatchSizeMatchesTheCAPIBitForBit(kernel: Bool) throws {
        for item in try Fixtures.loadedVectors(predictor: .cAPI) {
            let dump = try ForestDump(json: item.model.booster.modelJSON())
            let forest = CompiledForest(dump: dump, kernel: kernel)
            let edges = Self.edgeRows(dump, readings: item.scaled, trees: 3, minimum: 200)
            let width = dump.featureCount
            var start = 0
            for size in [1, 2, 3, 4, 5, 15, 16, 17, 33] where (start + size) * width <= edges.count {
                for rows in [Array(edges[(start * width)..<((start + size) * width)]), Array(item.scaled.prefix(size * width))] {
                    let found = try Self.differences(forest, item.model.booster, rows)
                    #expect(found.isEmpty, "\(item.vector.case) batch of \(size): \(found.prefix(2))")
                }
                start += size
            }
        }
    }

    /// Depths the fixtures lack (they are 2 and 6 deep): the depth-6 fixture's trees cut to 1-5
    /// levels (a node at the cut becomes a leaf), walked by the AVX-512 kernel and by the Swift
    /// walk (the C API's equal above) on edge rows, probes and the fixture rows, one at a time
    /// and in blocks, must agree bit for bit.
    /// (Without AVX-512F and VL the kernel must stay off, and the Swift walk serves both.)
    @Test(arguments: [1, 3, 4, 5])
    func testTheKernelEqualsTheSwiftWalkAtEveryDepth(depth: Int) throws {
        let item = try #require(try Fixtures.loadedVectors(predictor: .cAPI).first { $0.model.booster.boostedRounds >= 100 })
        var dump = try ForestDump(json: item.model.booster.modelJSON())
        for t in dump.trees.indices { Self.cut(&dump.trees[t], at: depth) }
        #expect(dump.trees.map(\.depth).max() == depth)
        let kernel = CompiledForest(dump: dump, kernel: true), swift = CompiledForest(dump: dump, kernel: false)
        #expect(kernel.walksWithKernel == CompiledForest.kernelAvailable && !swift.walksWithKernel)
        let width = dump.featureCount
        for rows in [Self.edgeRows(dump, readings: item.scaled), ForestProbes(dump: dump).values, item.scaled] {
            let n = rows.count / width
            try rows.withUnsafeBufferPointer { p in
                let expected = try swift.margins(p, rows: n)
                #expect(try kernel.margins(p, rows: n).map(\.bitPattern) == expected.map(\.bitPattern), "depth \(depth), \(n) rows in blocks")
                let single = try (0..<n).map { try kernel.margins(UnsafeBufferPointer(rebasing: p[($0 * width)..<(($0 + 1) * width)]), rows: 1)[0] }
                #expect(single.map(\.bitPattern) == expected.map(\.bitPattern), "depth \(depth), one row at a time")
            }
        }
    }

    /// Nodes at level `depth` become leaves (their value: the condition of the first leaf below).
    static func cut(_ tree: inout ForestDump.Tree, at depth: Int) {
        var stack = [(0, 0)]
        while let (node, level) = stack.popLast() {
            guard !tree.isLeaf(node) else { continue }
            if level == depth {
                var leaf = node
                while !tree.isLeaf(leaf) { leaf = Int(tree.left[leaf]) }
                tree.condition[node] = tree.condition[leaf]
                tree.left[node] = -1
                tree.right[node] = -1
            } else {
                stack.append((Int(tree.left[node]), level + 1))
                stack.append((Int(tree.right[node]), level + 1))
            }
        }
        tree.depth = min(tree.depth, depth)
    }

    @Test func testProbesHoldEveryKindOfRow() throws {
        let item = try #require(try Fixtures.loadedVectors(predictor: .cAPI).first)
        let dump = try ForestDump(json: item.model.booster.modelJSON())
        let probes = ForestProbes(dump: dump)
        #expect(probes.rowCount >= 1000)
        #expect(probes.values.contains { $0.isNaN })
        #expect(probes.values.contains(.infinity) && probes.values.contains(-.infinity))
        let thresholds = Set(dump.trees.flatMap { tree in (0..<tree.nodeCount).filter { !tree.isLeaf($0) }.map { tree.condition[$0] } })
        let onThreshold = probes.values.filter { thresholds.contains($0) }.count
        #expect(onThreshold >= 1000, "values exactly on a threshold: \(onThreshold)")
    }

    /// A forest one ulp off at one threshold must be caught at load and the C API must serve.
    @Test func testForcedMismatchFallsBackToTheCAPIWithAReason() throws {
        let item = try #require(try Fixtures.loadedVectors(predictor: .cAPI).first { $0.vector.run_name?.contains("champion") == true })
        let nudge: (inout ForestDump) -> Void = { dump in
            dump.trees[0].condition[0] = dump.trees[0].condition[0].nextUp
        }
        let model = try HazardModel(location: item.location, predictor: .auto, logger: HazardModel.defaultLogger, editDump: nudge)
        #expect(model.predictor == .cAPI)
        #expect(model.forest == nil)
        #expect(model.predictorReason.contains("differs from the C API"), "\(model.predictorReason)")
        #expect(model.checks.contains { $0.contains("predictor c-api") })
        let served = try model.predict(readings: item.vector.readings).map(\.probability)
        let capi = try item.scaled.withUnsafeBufferPointer { try model.booster.predict($0, rows: item.vector.readings.count) }
        #expect(served == capi)

        #expect(throws: ArtifactError.self) {
            try HazardModel(location: item.location, predictor: .compiled, logger: HazardModel.defaultLogger, editDump: nudge)
        }
        let forced = try HazardModel(location: item.location, predictor: .cAPI)
        #expect(forced.predictor == .cAPI && forced.forest == nil)
        #expect(try HazardModel(location: item.location, predictor: .compiled).predictor == .compiled)
    }

    /// libxgboost 1.7 ignores the base_score of files saved by xgboost >= 2; the forest is built
    /// from the corrected booster, so it starts from the file's base_score, not libxgboost's default.
    @Test func testBaseScoreTrapIsHandledByTheCompiledForest() throws {
        var sawTrap = false
        for item in try Fixtures.loadedVectors() where item.model.booster.baseScoreCorrected {
            sawTrap = true
            let saved = try #require(item.vector.base_score.flatMap(BoosterFile.parseBaseScore))
            let forest = try #require(item.model.forest)
            #expect(forest.baseMargin == -logf(1 / Float(saved) - 1), "\(item.vector.case)")
            let naive = try Booster(contentsOf: item.location.boosterFile, correctBaseScore: false)
            let naiveForest = CompiledForest(dump: try ForestDump(json: naive.modelJSON()))
            #expect(naiveForest.baseMargin != forest.baseMargin)
            let n = item.vector.readings.count
            let right = try item.scaled.withUnsafeBufferPointer { try forest.probabilities($0, rows: n) }
            let wrong = try item.scaled.withUnsafeBufferPointer { try naiveForest.probabilities($0, rows: n) }
            #expect(zip(right, item.vector.probabilities).allSatisfy { abs(Double($0) - $1) <= 1e-6 })
            #expect(zip(wrong, item.vector.probabilities).contains { abs(Double($0) - $1) > 1e-3 })
        }
        #expect(sawTrap)
    }

    @Test func testSigmoidIsXGBoostsIncludingTheClamp() {
        // 1 / (1 + expf(-x)) without the clamp gives 0 below about -88.7; XGBoost's gives a subnormal.
        #expect(CompiledForest.sigmoid(-100) == 1 / (expf(88.7) + 1))
        #expect(CompiledForest.sigmoid(-100) > 0)
        #expect(CompiledForest.sigmoid(0) == 0.5)
        #expect(CompiledForest.sigmoid(100) == 1)
    }
}
