/// Exact path-dependent TreeSHAP (Lundberg et al., "Consistent Individualized Feature Attribution
/// for Tree Ensembles", algorithm 2), as libxgboost 1.7.4 computes `pred_contribs`
/// (`RegTree::CalculateContributions` in `src/tree/tree_model.cc`): the same recursion over each
/// tree's nodes, the same cover (`sum_hess`) fractions, float32 like libxgboost, so the C API's
/// contributions are matched to float rounding. A row's contributions plus the bias sum to its
/// margin (to float rounding).
///
/// Immutable, so it may be used from any number of threads at once.
struct TreeSHAP: Sendable {
    struct Node: Sendable {
        var left: Int32  // -1 at a leaf
        var right: Int32
        var packed: UInt32  // as in `CompiledForest.Node`: feature, and whether missing goes right
        var value: Float  // threshold, or the leaf value
        var cover: Float
    }

    private let nodes: [Node]
    private let roots: [Int]
    private let tables: LeafTables?
    private let largestTree: Int
    /// Per tree, its expected value (the cover-weighted mean of its leaves): the tree's share of the bias.
    private let bias: Float
    let featureCount: Int
    private let maxDepth: Int

    /// - Parameter tables: evaluate through `LeafTables` where a tree allows (tests turn it off
    ///   to check the recursion on its own).
    init(dump: ForestDump, tables: Bool = true, kernel: Bool = LeafTables.kernelAvailable) {
        var nodes: [Node] = []
        var roots: [Int] = []
        var bias: Float = 0
        for tree in dump.trees {
            let offset = Int32(nodes.count)
            roots.append(nodes.count)
            for n in 0..<tree.nodeCount {
                let leaf = tree.isLeaf(n)
                nodes.append(Node(
                    left: leaf ? -1 : tree.left[n] + offset, right: leaf ? -1 : tree.right[n] + offset,
                    packed: leaf ? 0 : CompiledForest.packed(tree, n), value: tree.condition[n], cover: tree.cover[n]))
            }
            bias += Self.meanValue(tree, 0)
        }
        // libxgboost adds the trees' expected values first, the base margin last.
        bias += dump.baseMargin
        self.nodes = nodes
        self.roots = roots
        self.bias = bias
        self.featureCount = dump.featureCount
        self.maxDepth = dump.trees.map(\.depth).max() ?? 0
        self.largestTree = dump.trees.map(\.nodeCount).max() ?? 0
        self.tables = tables ? LeafTables(nodes: nodes, roots: roots, featureCount: dump.featureCount, kernel: kernel) : nil
    }

    /// `FillNodeMeanValues` of libxgboost: in float, left then right, divided by the node's cover.
    private static func meanValue(_ tree: ForestDump.Tree, _ node: Int) -> Float {
        if tree.isLeaf(node) { return tree.condition[node] }
        let left = Int(tree.left[node]), right = Int(tree.right[node])
        var result = meanValue(tree, left) * tree.cover[left]
        result += meanValue(tree, right) * tree.cover[right]
        return result / tree.cover[node]
    }

    /// Trees evaluated through `LeafTables` (the others through the recursion).
    var tabledTrees: Int { tables?.trees.count { $0 != nil } ?? 0 }
    var treeCount: Int { roots.count }
    var usesKernel: Bool { tables?.usesKernel ?? false }
    /// Leaves tabled and the bytes of their tables, slots and splits: what one row's explanation reads.
    var tableFootprint: (leaves: Int, bytes: Int) {
        guard let tables else { return (0, 0) }
        return (
            tables.leaves.count,
            tables.values.count * MemoryLayout<Float>.stride + tables.slotFeatures.count * MemoryLayout<Int32>.stride
                + tables.slotHots.count * MemoryLayout<Float>.stride
                + tables.leaves.count * MemoryLayout<LeafTables.Leaf>.stride + tables.splits.count * MemoryLayout<LeafTables.Split>.stride
        )
    }

    /// Contributions of one row of `featureCount` scaled values: `featureCount` log-odds values,
    /// then the bias, like one row of `Booster.contributions`.
    func contributions(_ row: UnsafePointer<Float>) -> [Float] {
        contributions(row, count: 1)
    }

    /// Contributions of `count` rows (row-major), `featureCount + 1` values each. Tree by tree
    /// across the rows, so a tree's leaf tables stay in cache while every row uses them.
    func contributions(_ rows: UnsafePointer<Float>, count: Int) -> [Float] {
        var storage = [Float](repeating: 0, count: count * (featureCount + 1))
        // Written through a pointer: each `Array` element write checked uniqueness (a call per
        // feature per tree per row, seen in perf of the explanation).
        storage.withUnsafeMutableBufferPointer { add(rows, count: count, into: $0) }
        return storage
    }

    private func add(_ rows: UnsafePointer<Float>, count: Int, into total: UnsafeMutableBufferPointer<Float>) {
        let width = featureCount + 1
        let pathCapacity = (maxDepth + 2) * (maxDepth + 3) / 2
        let scratchCount = featureCount + LeafTables.lanes * (featureCount + LeafTables.maxFeatures)
        withUnsafeTemporaryAllocation(of: PathElement.self, capacity: pathCapacity) { path in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount) { scratch in
                let phi = UnsafeMutableBufferPointer(rebasing: scratch[0..<featureCount])
                let lanes = UnsafeMutableBufferPointer(rebasing: scratch[featureCount...])
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: largestTree) { cold in
                    nodes.withUnsafeBufferPointer { nodes in
                        for (t, root) in roots.enumerated() {
                            for r in 0..<count {
                                let row = rows + r * featureCount
                                if let tables, let leaves = tables.trees[t] {
                                    tables.add(
                                        tree: t, leaves, row: row, cold: cold.baseAddress!, lanes: lanes.baseAddress!,
                                        into: total.baseAddress! + r * width, columns: featureCount)
                                    continue
                                }
                                phi.initialize(repeating: 0)
                                Walker(nodes: nodes.baseAddress!, row: row, phi: phi.baseAddress!)
                                    .recurse(root, depth: 0, parentPath: path.baseAddress!, zero: 1, one: 1, feature: -1)
                                // Per tree, then added in tree order, as libxgboost sums `this_tree_contribs`.
                                for j in 0..<featureCount { total[r * width + j] += phi[j] }
                            }
                        }
                    }
                }
            }
        }
        for r in 0..<count { total[r * width + featureCount] = bias }
    }
}

/// One element of the unique path: a feature split on the way down, the fraction of cover that
/// goes the way of the row when it is absent (zero) and present (one), and its permutation weight.
fileprivate struct PathElement {
    var feature: Int32
    var zero: Float
    var one: Float
    var weight: Float
}

/// The recursion of one row through one tree. Pointer rule: every pointer here is borrowed from
/// `TreeSHAP.contributions`' scopes and lives only for that call.
private struct Walker {
    let nodes: UnsafePointer<TreeSHAP.Node>
    let row: UnsafePointer<Float>
    let phi: UnsafeMutablePointer<Float>

    func recurse(
        _ index: Int, depth parentDepth: Int, parentPath: UnsafeMutablePointer<PathElement>,
        zero: Float, one: Float, feature: Int32
    ) {
        var depth = parentDepth
        let path = parentPath + depth + 1
        path.update(from: parentPath, count: depth + 1)
        extend(path, depth, zero: zero, one: one, feature: feature)
        let node = nodes[index]
        if node.left < 0 {
            if depth == 0 { return }
            for i in 1...depth {
                let w = unwoundSum(path, depth, i)
                let element = path[i]
                phi[Int(element.feature)] += w * (element.one - element.zero) * node.value
            }
            return
        }
        let split = Int32(bitPattern: node.packed & 0x7FFF_FFFF)
        let right = CompiledForest.goesRight(
            CompiledForest.Node(threshold: node.value, packed: node.packed), row[Int(split)]) == 1
        let hot = Int(right ? node.right : node.left)
        let cold = Int(right ? node.left : node.right)
        let hotZero = nodes[hot].cover / node.cover
        let coldZero = nodes[cold].cover / node.cover
        var incomingZero: Float = 1
        var incomingOne: Float = 1
        // A feature already on the path: undo that split, redo it here with both fractions.
        if let k = (0...depth).first(where: { path[$0].feature == split }) {
            incomingZero = path[k].zero
            incomingOne = path[k].one
            unwind(path, depth, k)
            depth -= 1
        }
        recurse(hot, depth: depth + 1, parentPath: path, zero: hotZero * incomingZero, one: incomingOne, feature: split)
        recurse(cold, depth: depth + 1, parentPath: path, zero: coldZero * incomingZero, one: 0, feature: split)
    }

    private func extend(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, zero: Float, one: Float, feature: Int32) {
        path[depth] = PathElement(feature: feature, zero: zero, one: one, weight: depth == 0 ? 1 : 0)
        let d1 = Float(depth + 1)
        for i in stride(from: depth - 1, through: 0, by: -1) {
            path[i + 1].weight += one * path[i].weight * Float(i + 1) / d1
            path[i].weight = zero * path[i].weight * Float(depth - i) / d1
        }
    }

    private func unwind(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ index: Int) {
        let one = path[index].one, zero = path[index].zero
        let d1 = Float(depth + 1)
        var next = path[depth].weight
        for i in stride(from: depth - 1, through: 0, by: -1) {
            if one != 0 {
                let saved = path[i].weight
                path[i].weight = next * d1 / (Float(i + 1) * one)
                next = saved - path[i].weight * zero * Float(depth - i) / d1
            } else {
                path[i].weight = path[i].weight * d1 / (zero * Float(depth - i))
            }
        }
        for i in index..<depth {
            path[i].feature = path[i + 1].feature
            path[i].zero = path[i + 1].zero
            path[i].one = path[i + 1].one
        }
    }

    private func unwoundSum(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ index: Int) -> Float {
        let one = path[index].one, zero = path[index].zero
        let d1 = Float(depth + 1)
        var next = path[depth].weight
        var total: Float = 0
        for i in stride(from: depth - 1, through: 0, by: -1) {
            if one != 0 {
                let t = next * d1 / (Float(i + 1) * one)
                total += t
                next = path[i].weight - t * zero * (Float(depth - i) / d1)
            } else if zero != 0 {
                total += (path[i].weight / zero) / (Float(depth - i) / d1)
            }
        }
        return total
    }
}
