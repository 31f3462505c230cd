import ComputeSupport
/// Rows (scaled values, row-major) on which the compiled forest must equal the C API before it
/// serves: where a mistake in the comparison, the missing-value rule, the thresholds' float
/// parsing or the summation order would show.
///
/// - random rows inside the range the splits cover, and far outside it;
/// - ±inf, ±0, the largest and smallest floats;
/// - rows with some, most or all values NaN;
/// - for sampled splits, a row that reaches the split with the value exactly on its threshold,
///   one ulp below and one ulp above, and one with the value missing.
///
/// Deterministic (a fixed seed), so a load that fails verification fails the same way again.
struct ForestProbes {
    let featureCount: Int
    private(set) var values: [Float] = []
    var rowCount: Int { values.count / featureCount }

    /// - Parameter maxSplits: splits given threshold rows (4 rows each); all of them when fewer.
    init(dump: ForestDump, maxSplits: Int = 1000, seed: UInt64 = 0x5EED_F0E5) {
        featureCount = dump.featureCount
        var random = SplitMix64(seed: seed)
        let (low, high) = Self.ranges(dump)
        let inside = { (random: inout SplitMix64, j: Int) -> Float in
            let span = max(high[j] - low[j], 1e-3)
            return low[j] - span / 10 + Float(random.nextUnit()) * span * 1.2
        }
        // Random rows in range, then far outside it.
        for _ in 0..<400 { append { j in inside(&random, j) } }
        for _ in 0..<150 {
            append { j in
                let span = max(high[j] - low[j], 1e-3)
                let far = span * Float(1 + random.nextUnit() * 1000)
                return random.nextUnit() < 0.5 ? low[j] - far : high[j] + far
            }
        }
        // Special values, whole rows and scattered.
        let specials: [Float] = [.infinity, -.infinity, 0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                 .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .nan]
        for special in specials { append { _ in special } }
        for _ in 0..<100 {
            append { j in random.nextUnit() < 0.3 ? specials[Int(random.next() % UInt64(specials.count))] : inside(&random, j) }
        }
        // Missing values: some, most, all but one.
        for fraction in [0.1, 0.5, 0.9] {
            for _ in 0..<70 { append { j in random.nextUnit() < fraction ? .nan : inside(&random, j) } }
        }
        // Threshold rows along the path to sampled splits.
        var splits: [(tree: Int, node: Int)] = []
        for (t, tree) in dump.trees.enumerated() {
            for node in 0..<tree.nodeCount where !tree.isLeaf(node) { splits.append((t, node)) }
        }
        let stride = max(1, splits.count / maxSplits)
        for index in Swift.stride(from: 0, to: splits.count, by: stride) {
            let (t, node) = splits[index]
            let tree = dump.trees[t]
            var row = (0..<featureCount).map { inside(&random, $0) }
            Self.steer(&row, toward: node, in: tree)
            let feature = Int(tree.feature[node])
            let threshold = tree.condition[node]
            for value in [threshold, threshold.nextDown, threshold.nextUp, .nan] {
                row[feature] = value
                values += row
            }
        }
    }

    private mutating func append(_ value: (Int) -> Float) {
        for j in 0..<featureCount { values.append(value(j)) }
    }

    /// Sets values so the walk from the root reaches `target` (as far as features repeat allows).
    private static func steer(_ row: inout [Float], toward target: Int, in tree: ForestDump.Tree) {
        var parent = [Int](repeating: -1, count: tree.nodeCount)
        for node in 0..<tree.nodeCount where !tree.isLeaf(node) {
            parent[Int(tree.left[node])] = node
            parent[Int(tree.right[node])] = node
        }
        var path: [(node: Int, left: Bool)] = []
        var child = target
        while parent[child] >= 0 {
            path.append((parent[child], tree.left[parent[child]] == child))
            child = parent[child]
        }
        for (node, left) in path.reversed() {
            let threshold = tree.condition[node]
            row[Int(tree.feature[node])] = left ? threshold.nextDown : threshold
        }
    }

    /// Per feature, the smallest and largest threshold any split uses ([-1, 1] when unused).
    private static func ranges(_ dump: ForestDump) -> ([Float], [Float]) {
        var low = [Float](repeating: .infinity, count: dump.featureCount)
        var high = [Float](repeating: -.infinity, count: dump.featureCount)
        for tree in dump.trees {
            for node in 0..<tree.nodeCount where !tree.isLeaf(node) && tree.condition[node].isFinite {
                let j = Int(tree.feature[node])
                low[j] = min(low[j], tree.condition[node])
                high[j] = max(high[j], tree.condition[node])
            }
        }
        for j in 0..<dump.featureCount where low[j] > high[j] { (low[j], high[j]) = (-1, 1) }
        return (low, high)
    }
}
