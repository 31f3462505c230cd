import CForestKernel
import Foundation

/// The booster's trees in flat arrays, walked in Swift: the same margins and probabilities as
/// libxgboost 1.7.4's CPU predictor, bit for bit, without its per-call JSON parsing, scratch
/// allocations and OpenMP region (most of a small call's cost: BENCHMARKS.md, the C-API limit
/// against the compiled forest).
///
/// Exactness, as in libxgboost (`src/predictor/predict_fn.h`, `cpu_predictor.cc`, `common/math.h`):
/// a node goes left when `value < threshold` in float32; NaN (the missing value) follows the
/// node's default direction, ±inf is an ordinary value; the margin starts at base_score's margin
/// and adds the leaf values in float32 in tree order; the probability is XGBoost's `Sigmoid`.
/// `HazardModel` serves with it only after `ForestVerification` has compared it with the C API.
///
/// Immutable, so it may be used from any number of threads at once.
public struct CompiledForest: Sendable {
    /// One split. `packed` holds the feature index (low 31 bits) and, in bit 31, whether a
    /// missing value goes right, so a node is one 8-byte load.
    struct Node: Sendable {
        var threshold: Float
        var packed: UInt32
    }

    /// A node of the list layout: at a leaf, `left < 0` and `threshold` is the leaf value;
    /// the right child is always `left + 1`.
    struct ListNode: Sendable {
        var threshold: Float
        var packed: UInt32
        var left: Int32
    }

    enum Layout: Sendable {
        /// Every tree padded to a complete tree of `depth` levels: node `i`'s children are
        /// `2i + 1` and `2i + 2`, so the next node is arithmetic on the comparison bit, and the
        /// `2^depth` leaves follow as values. Trees of `(2^depth - 1)` nodes, then `2^depth` leaves.
        case complete(depth: Int, nodes: [Node], leaves: [Float])
        /// Deep trees: a node list per tree (`roots` are indices into `nodes`).
        case list(roots: [Int], nodes: [ListNode])
    }

    public let featureCount: Int
    public let treeCount: Int
    /// Margin before the first tree (base_score through `ProbToMargin`).
    public let baseMargin: Float
    let layout: Layout
    /// The complete trees again as the AVX-512 kernel's tables (`FOREST_KERNEL_TREE_WORDS` words
    /// a tree: thresholds, packed nodes, leaves), when the CPU runs it and the trees are at most
    /// `FOREST_KERNEL_MAX_DEPTH` deep; empty otherwise (the Swift walk below).
    let kernelTables: [UInt32]

    /// Whether this CPU runs the AVX-512 kernel (forest_kernel.c).
    public static let kernelAvailable = forest_kernel_available() != 0

    /// Whether the AVX-512 kernel walks this forest.
    public var walksWithKernel: Bool { !kernelTables.isEmpty }

    /// The same forest walked by the Swift loops only (make bench sets one beside the other).
    public func withoutKernel() -> CompiledForest {
        CompiledForest(featureCount: featureCount, treeCount: treeCount, baseMargin: baseMargin, layout: layout, kernelTables: [])
    }

    /// Nodes a row passes through on its way to the leaves (complete trees: every tree's depth;
    /// node lists: not fixed, nil).
    public var nodeVisitsPerRow: Int? {
        if case .complete(let depth, _, _) = layout { return treeCount * depth }
        return nil
    }

    /// How the trees are laid out, for `/models/active` and logs.
    public var layoutDescription: String {
        switch layout {
        case .complete(let depth, _, _): "complete trees of depth \(depth)" + (kernelTables.isEmpty ? "" : ", AVX-512 walk")
        case .list: "node lists"
        }
    }

    /// Rows walked together through each tree: independent walks the CPU overlaps. A block of
    /// fewer than `minimumRowLanes` rows walks `lanes` trees at once per row instead.
    static let rowsPerBlock = 16
    static let minimumRowLanes = 4
    static let lanes = 16

    /// Margins (log-odds) of `rows` rows of `featureCount` scaled values, row-major.
    /// - Throws: `ArtifactError(.mismatch)` when the buffer is not `rows * featureCount` long.
    public func margins(_ values: UnsafeBufferPointer<Float>, rows: Int) throws -> [Float] {
        guard rows >= 0, values.count == rows * featureCount else {
            throw ArtifactError(.mismatch, "expected \(rows) x \(featureCount) values, got \(values.count)")
        }
        guard rows > 0, let input = values.baseAddress else { return [] }
        return [Float](unsafeUninitializedCapacity: rows) { out, initialized in
            let output = out.baseAddress!
            for first in stride(from: 0, to: rows, by: Self.rowsPerBlock) {
                let count = min(Self.rowsPerBlock, rows - first)
                walk(input + first * featureCount, count: count, into: output + first)
            }
            initialized = rows
        }
    }

    /// Probabilities: `margins` through XGBoost's sigmoid.
    public func probabilities(_ values: UnsafeBufferPointer<Float>, rows: Int) throws -> [Float] {
        var result = try margins(values, rows: rows)
        for i in result.indices { result[i] = Self.sigmoid(result[i]) }
        return result
    }

    /// libxgboost 1.7.4's `common::Sigmoid`, operation for operation (the clamp avoids expf
    /// overflow, the epsilon a division by zero; both are part of the answer's bits).
    @inline(__always)
    public static func sigmoid(_ margin: Float) -> Float {
        let epsilon: Float = 1e-16
        let x = min(-margin, 88.7)
        let denominator = expf(x) + 1 + epsilon
        return 1 / denominator
    }

    // Pointer rule for the walks below: `rows` points into the caller's buffer and `out` into
    // the result being built; both outlive the call and are only read (rows) or written (out)
    // inside it. The forest's own arrays are reached through `withUnsafeBufferPointer` scopes
    // and never escape them.

    /// Writes the margins of `count` (<= rowsPerBlock) consecutive rows at `rows` to `out`.
    private func walk(_ rows: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<count { out[r] = baseMargin }
        if !kernelTables.isEmpty, case .complete(let depth, _, _) = layout {
            // libxgboost also walks rows without missing values without the missing-value test.
            let missing: Int32 = Self.anyMissing(rows, count * featureCount) ? 1 : 0
            kernelTables.withUnsafeBufferPointer { tables in
                let tables = tables.baseAddress!
                if count >= Self.minimumRowLanes {
                    forest_kernel_walk_rows(rows, Int32(count), Int32(featureCount), Int32(depth), Int32(treeCount), tables, missing, out)
                } else {
                    for r in 0..<count {
                        out[r] = forest_kernel_walk_trees(rows + r * featureCount, Int32(featureCount), Int32(depth), Int32(treeCount), tables, missing, out[r])
                    }
                }
            }
            return
        }
        switch layout {
        case .complete(let depth, let nodes, let leaves):
            nodes.withUnsafeBufferPointer { nodes in
                leaves.withUnsafeBufferPointer { leaves in
                    walkComplete(rows, count: count, depth: depth, nodes: nodes.baseAddress!, leaves: leaves.baseAddress!, into: out)
                }
            }
        case .list(let roots, let nodes):
            nodes.withUnsafeBufferPointer { nodes in
                for root in roots {
                    for r in 0..<count { out[r] += Self.leaf(rows + r * featureCount, root: root, nodes: nodes.baseAddress!) }
                }
            }
        }
    }

    /// Whether any of the `count` values is NaN: a plain loop over the pointer (a `contains`
    /// closure over the indices was 14 % of a one-row call by perf).
    @inline(__always)
    private static func anyMissing(_ values: UnsafePointer<Float>, _ count: Int) -> Bool {
        var missing = false
        for i in 0..<count { missing = missing || values[i].isNaN }
        return missing
    }

    @inline(__always)
    private func walkComplete(
        _ rows: UnsafePointer<Float>, count: Int, depth: Int,
        nodes: UnsafePointer<Node>, leaves: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        let internalCount = (1 << depth) - 1
        let width = featureCount
        // libxgboost also walks rows without missing values without the missing-value test.
        let missing = Self.anyMissing(rows, count * width)
        // The node each lane has reached (lanes are rows, or trees for a single row).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.lanes) { scratch in
            let position = scratch.baseAddress!
            if count >= Self.minimumRowLanes {
                // Every row of the block through one tree, then the next tree.
                for t in 0..<treeCount {
                    let tree = nodes + t &* internalCount
                    Self.walkLanes(count, depth: depth, position: position, missing: missing,
                                   node: { _, i in tree[i] }, value: { k, feature in rows[k &* width &+ feature] })
                    // Each row adds this tree's leaf before the next tree's: libxgboost's order.
                    let treeLeaves = leaves + t &* (internalCount + 1) - internalCount
                    for r in 0..<count { out[r] += treeLeaves[position[r]] }
                }
                return
            }
            for r in 0..<count {
                let row = rows + r &* width
                for first in stride(from: 0, to: treeCount, by: Self.lanes) {
                    let lanes = min(Self.lanes, treeCount - first)
                    let trees = nodes + first &* internalCount
                    Self.walkLanes(lanes, depth: depth, position: position, missing: missing,
                                   node: { k, i in trees[k &* internalCount &+ i] }, value: { _, feature in row[feature] })
                    // Leaves added in tree order.
                    let groupLeaves = leaves + first &* (internalCount + 1) - internalCount
                    for k in 0..<lanes { out[r] += groupLeaves[k &* (internalCount + 1) + position[k]] }
                }
            }
        }
    }

    /// Walks `count` independent lanes `depth` levels down complete trees, a level at a time
    /// across the lanes so the CPU overlaps their load chains; leaves in `position` each lane's
    /// leaf, numbered from `2^depth - 1`. `node(lane, index)` and `value(lane, feature)` say
    /// what a lane walks (rows of a block through one tree, or trees for one row).
    @inline(__always)
    private static func walkLanes(
        _ count: Int, depth: Int, position: UnsafeMutablePointer<Int>, missing: Bool,
        node: (Int, Int) -> Node, value: (Int, Int) -> Float
    ) {
        // Two copies of the loop, so the one for rows without NaN has no missing-value test.
        if missing {
            walkLevels(count, depth: depth, position: position) { k, i in
                let n = node(k, i)
                return goesRight(n, value(k, Int(n.packed & 0x7FFF_FFFF)))
            }
        } else {
            walkLevels(count, depth: depth, position: position) { k, i in
                let n = node(k, i)
                return value(k, Int(n.packed & 0x7FFF_FFFF)) < n.threshold ? 0 : 1
            }
        }
    }

    @inline(__always)
    private static func walkLevels(_ count: Int, depth: Int, position: UnsafeMutablePointer<Int>, right: (Int, Int) -> Int) {
        for k in 0..<count { position[k] = 0 }
        for _ in 0..<depth {
            for k in 0..<count {
                let i = position[k]
                position[k] = i &* 2 &+ 1 &+ right(k, i)
            }
        }
    }

    private static func leaf(_ row: UnsafePointer<Float>, root: Int, nodes: UnsafePointer<ListNode>) -> Float {
        var node = nodes[root]
        while node.left >= 0 {
            let step = goesRight(Node(threshold: node.threshold, packed: node.packed), row[Int(node.packed & 0x7FFF_FFFF)])
            node = nodes[Int(node.left) + step]
        }
        return node.threshold
    }

    /// 1 when `value` goes right: `!(value < threshold)`, except that NaN follows the default.
    @inline(__always)
    static func goesRight(_ node: Node, _ value: Float) -> Int {
        let missingRight = Int(node.packed >> 31)
        if value.isNaN { return missingRight }
        return value < node.threshold ? 0 : 1
    }
}
