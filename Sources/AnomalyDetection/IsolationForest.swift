import ComputeSupport
import Dispatch
import Foundation

/// Isolation Forest (Liu, Ting & Zhou 2008), following scikit-learn's `IsolationForest`.
///
/// Written by hand because no Swift package provides one, and scoring must not cross into
/// Python. The algorithm is scikit-learn's: each tree is an extremely randomised tree grown on
/// `max_samples` rows drawn without replacement (and, with `max_features < 1`, a random subset
/// of the features); a node picks a random non-constant feature and a threshold uniform between
/// that feature's min and max in the node, and stops at depth `ceil(log2(max_samples))` or one
/// sample. A sample's path length is its leaf depth plus `c(n)` for the `n` training samples in
/// the leaf. Scores:
/// - `anomalyScores`: the paper's `2^(-E[h(x)] / c(psi))`, in (0, 1], higher = more anomalous;
/// - `scoreSamples`: scikit-learn's `score_samples` (the negated paper score);
/// - `decisionFunction`: `scoreSamples - offset` (negative = outlier), with `offset` -0.5 for
///   `contamination = auto`, else the training-score percentile.
///
/// Immutable after `fit`; safe to share between tasks.
public struct IsolationForest: Sendable {
    public struct Parameters: Codable, Sendable, Equatable {
        public var nEstimators: Int = 100
        /// nil: `min(256, n)` (scikit-learn's "auto").
        public var maxSamples: Int?
        /// Fraction of features each tree sees (scikit-learn's float `max_features`).
        public var maxFeatures: Double = 1.0
        /// nil: "auto" (offset -0.5); else the expected outlier fraction in (0, 0.5].
        public var contamination: Double?
        public var seed: UInt64 = 42

        public init(nEstimators: Int = 100, maxSamples: Int? = nil, maxFeatures: Double = 1.0, contamination: Double? = nil, seed: UInt64 = 42) {
            self.nEstimators = nEstimators
            self.maxSamples = maxSamples
            self.maxFeatures = maxFeatures
            self.contamination = contamination
            self.seed = seed
        }
    }

    /// One tree, as flat arrays. Internal node: `feature >= 0`, go left when `x <= threshold`.
    /// Leaf: `feature == -1`, `threshold` holds the leaf's path length (depth + c(size)).
    struct Tree: Sendable, Equatable {
        var feature: [Int32] = []
        var threshold: [Double] = []
        var left: [Int32] = []
        var right: [Int32] = []

        func pathLength(_ row: UnsafePointer<Double>) -> Double {
            var node = 0
            while true {
                let f = feature[node]
                if f < 0 { return threshold[node] }
                node = Int(row[Int(f)] <= threshold[node] ? left[node] : right[node])
            }
        }
    }

    public let parameters: Parameters
    public let featureCount: Int
    /// psi: rows each tree was grown on.
    public let samplesPerTree: Int
    /// scikit-learn's `offset_`.
    public let offset: Double
    let trees: [Tree]
    /// The trees packed for scoring, once (packing on every call cost a tenth of a 3000-row score).
    private let packed: PackedForest

    /// Bytes the decoded forest holds: the trees' arrays and their packed copy (array headers
    /// included, allocator rounding not), for a cache's memory budget.
    public var memoryBytes: Int {
        let header = 32
        let trees = self.trees.reduce(0) { sum, tree in
            sum + 4 * header + tree.feature.capacity * 4 + tree.threshold.capacity * 8 + tree.left.capacity * 4 + tree.right.capacity * 4
        }
        return trees + packed.memoryBytes
    }

    /// Errors in the input to `fit`.
    public struct FitError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Fits a forest on `rows` rows of `featureCount` values, row-major. Uses both cores.
    public static func fit(_ data: [Double], rows: Int, featureCount: Int, parameters: Parameters = .init()) throws -> IsolationForest {
        guard rows >= 2, featureCount >= 1, data.count == rows * featureCount else {
            throw FitError(description: "need at least 2 rows of \(featureCount) features, got \(data.count) values for \(rows) rows")
        }
        guard data.allSatisfy(\.isFinite) else { throw FitError(description: "training data must be finite numbers") }
        guard parameters.nEstimators >= 1, parameters.nEstimators <= 10_000 else {
            throw FitError(description: "n_estimators must be in 1...10000")
        }
        guard parameters.maxFeatures > 0, parameters.maxFeatures <= 1 else { throw FitError(description: "max_features must be in (0, 1]") }
        if let c = parameters.contamination, !(c > 0 && c <= 0.5) { throw FitError(description: "contamination must be in (0, 0.5]") }
        let psi = min(parameters.maxSamples ?? 256, rows)
        guard psi >= 2 else { throw FitError(description: "max_samples must be at least 2") }
        let depthLimit = Int(ceil(log2(Double(psi))))
        let featuresPerTree = max(1, Int(parameters.maxFeatures * Double(featureCount)))

        // One well-mixed seed per tree, drawn from the forest's seed. (Seeding tree t with
        // `seed + t * step` would make SplitMix streams overlap, shifted by one draw: correlated trees.)
        var master = SplitMix64(seed: parameters.seed)
        let treeSeeds = (0..<parameters.nEstimators).map { _ in master.next() }
        // Each tree depends only on its own seed, so two cores building half the trees each give
        // the same forest as one.
        let trees = try data.withUnsafeBufferPointer { buffer in
            let input = SharedPointer(buffer.baseAddress!)
            return try ParallelChunks.map(count: parameters.nEstimators, chunks: 2) { range in
                range.map { t -> Tree in
                    var rng = SplitMix64(seed: treeSeeds[t])
                    let sample = Self.sampleWithoutReplacement(rows, psi, &rng)
                    var features = Array(0..<featureCount)
                    if featuresPerTree < featureCount {
                        features = Self.sampleWithoutReplacement(featureCount, featuresPerTree, &rng)
                    }
                    var builder = TreeBuilder(data: input.base, width: featureCount, features: features, depthLimit: depthLimit)
                    builder.build(rows: sample, rng: &rng)
                    return builder.tree
                }
            }.flatMap { $0 }
        }
        var forest = IsolationForest(
            parameters: parameters, featureCount: featureCount, samplesPerTree: psi, offset: -0.5, trees: trees)
        if let contamination = parameters.contamination {
            let scores = forest.scoreSamples(data, rows: rows)
            forest = IsolationForest(
                parameters: parameters, featureCount: featureCount, samplesPerTree: psi,
                offset: Self.percentile(scores, 100 * contamination), trees: forest.trees)
        }
        return forest
    }

    init(parameters: Parameters, featureCount: Int, samplesPerTree: Int, offset: Double, trees: [Tree]) {
        self.parameters = parameters
        self.featureCount = featureCount
        self.samplesPerTree = samplesPerTree
        self.offset = offset
        self.trees = trees
        self.packed = PackedForest(trees)
    }

    /// Mean path length E[h(x)] per row. Each tree is walked over a chunk of rows eight rows at a
    /// time, for exactly the tree's depth, with a branch-free step: the eight walks' loads
    /// overlap instead of each level waiting on a mispredicted branch (scoring was bound by
    /// that). Two chunks run on two cores. Trees up to `PackedForest.implicitDepthLimit` deep
    /// are laid out as complete trees (children at 2i+1 and 2i+2), so a step is one dependent
    /// load less.
    public func meanPathLengths(_ data: [Double], rows: Int) -> [Double] {
        precondition(data.count == rows * featureCount, "expected \(rows) x \(featureCount) values")
        var out = [Double](repeating: 0, count: rows)
        let width = featureCount
        let treeCount = Double(trees.count)
        let packed = self.packed
        data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                let inBase = SharedPointer(input.baseAddress!), outBase = SharedPointer(output.baseAddress!)
                // Below 256 rows the hand-off to a second core costs more than it saves.
                _ = try? ParallelChunks.map(count: rows, chunks: rows >= 256 ? 2 : 1) { range in
                    packed.addPathLengths(rows: range, input: inBase.base, width: width, output: outBase.base)
                    for r in range { outBase.base[r] /= treeCount }
                }
            }
        }
        return out
    }

    /// The paper's anomaly score in (0, 1]: higher is more anomalous, ~0.5 is ordinary.
    public func anomalyScores(_ data: [Double], rows: Int) -> [Double] {
        let normaliser = Self.averagePathLength(samplesPerTree)
        return meanPathLengths(data, rows: rows).map { pow(2, -$0 / normaliser) }
    }

    /// scikit-learn's `score_samples`: the negated paper score (lower = more anomalous).
    public func scoreSamples(_ data: [Double], rows: Int) -> [Double] {
        anomalyScores(data, rows: rows).map { -$0 }
    }

    /// scikit-learn's `decision_function`: negative for outliers.
    public func decisionFunction(_ data: [Double], rows: Int) -> [Double] {
        scoreSamples(data, rows: rows).map { $0 - offset }
    }

    /// The anomaly-score threshold equivalent to `offset` (a sample is an outlier above it).
    public var scoreThreshold: Double { -offset }

    /// c(n): the average path length of an unsuccessful BST search among n points.
    public static func averagePathLength(_ n: Int) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        let m = Double(n - 1)
        return 2 * (log(m) + 0.5772156649015329) - 2 * m / Double(n)
    }

    /// numpy's default (linear) percentile.
    static func percentile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        let position = q / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    static func sampleWithoutReplacement(_ n: Int, _ k: Int, _ rng: inout SplitMix64) -> [Int] {
        var pool = Array(0..<n)
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(n - i))
            pool.swapAt(i, j)
        }
        return Array(pool.prefix(k))
    }
}

/// Grows one isolation tree.
private struct TreeBuilder {
    let data: UnsafePointer<Double>
    let width: Int
    let features: [Int]
    let depthLimit: Int
    var tree = IsolationForest.Tree()

    init(data: UnsafePointer<Double>, width: Int, features: [Int], depthLimit: Int) {
        self.data = data
        self.width = width
        self.features = features
        self.depthLimit = depthLimit
    }

    mutating func build(rows: [Int], rng: inout SplitMix64) {
        var rows = rows
        _ = grow(&rows, 0, rows.count, depth: 0, rng: &rng)
    }

    private mutating func addNode() -> Int {
        tree.feature.append(-1)
        tree.threshold.append(0)
        tree.left.append(-1)
        tree.right.append(-1)
        return tree.feature.count - 1
    }

    /// Grows the subtree for `rows[start..<end]`; returns its node index.
    private mutating func grow(_ rows: inout [Int], _ start: Int, _ end: Int, depth: Int, rng: inout SplitMix64) -> Int {
        let node = addNode()
        let count = end - start
        if depth >= depthLimit || count <= 1 {
            tree.threshold[node] = Double(depth) + IsolationForest.averagePathLength(count)
            return node
        }
        // Random order over the features; the first non-constant one splits (as scikit-learn's
        // random splitter with max_features=1 does: constant features are skipped).
        var order = features
        var chosen: (feature: Int, low: Double, high: Double)?
        var remaining = order.count
        while remaining > 0, chosen == nil {
            let pick = Int(rng.next() % UInt64(remaining))
            let f = order[pick]
            order.swapAt(pick, remaining - 1)
            remaining -= 1
            var low = Double.infinity, high = -Double.infinity
            for k in start..<end {
                let v = data[rows[k] * width + f]
                low = min(low, v)
                high = max(high, v)
            }
            if high > low { chosen = (f, low, high) }
        }
        guard let (f, low, high) = chosen else {
            tree.threshold[node] = Double(depth) + IsolationForest.averagePathLength(count)
            return node
        }
        var threshold = low + (high - low) * rng.nextUnit()
        if threshold >= high { threshold = low }
        // Partition: x <= threshold to the left.
        var i = start, j = end - 1
        while i <= j {
            if data[rows[i] * width + f] <= threshold {
                i += 1
            } else {
                rows.swapAt(i, j)
                j -= 1
            }
        }
        tree.feature[node] = Int32(f)
        tree.threshold[node] = threshold
        let left = grow(&rows, start, i, depth: depth + 1, rng: &rng)
        let right = grow(&rows, i, end, depth: depth + 1, rng: &rng)
        tree.left[node] = Int32(left)
        tree.right[node] = Int32(right)
        return node
    }
}


