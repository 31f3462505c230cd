import CForestKernel

/// Path-dependent TreeSHAP from per-leaf tables (the idea of Fast TreeSHAP v2, Yang 2021):
/// the same values as the recursion, about ten times faster, for the 100 µs-per-reading budget.
///
/// For a leaf with value `v` whose path splits on the distinct features `N` (`d` of them), each
/// with cover fraction `z_j` (product over its splits on the path), and `H` the features whose
/// splits the row follows, TreeSHAP gives feature `j`
///
///     φ_j = v (o_j - z_j) Σ_{S ⊆ H\{j}} w(|S|) Π_{k ∈ N\{j}\S} z_k,   w(s) = s!(d-1-s)!/d!
///
/// and since `j` is never in `S`, the sum is `F(H\{j}) / z_j` with
/// `F(A) = Σ_{S ⊆ A} w(|S|) Π_{k ∈ N\S} z_k`, which depends on the leaf only. `F` is tabled per
/// leaf for all `2^d` sets at load, so a row costs a few operations per leaf and feature.
/// Which of a leaf's features the row does not follow (its `cold` set) is found once per node, not
/// once per leaf and split: a feature's slot is fixed by the path above its split (slots are
/// numbered in order of first appearance from the root), so each node's set is its parent's plus
/// at most that split's slot. Trees with a zero cover fraction, paths of more than `maxFeatures`
/// features, or a child numbered before its parent (libxgboost numbers them after) keep the recursion.
struct LeafTables: Sendable {
    /// Distinct features on one leaf's path (a table of `2^maxFeatures` floats per leaf at most).
    static let maxFeatures = 8

    /// Three `Int32`s, as `forest_kernel_shap_tree` reads them (checked in `kernelAvailable`).
    struct Leaf: Sendable {
        var table: Int32  // offset of the leaf's `v * F` table in `values`
        var node: Int32  // counted from the tree's root: where the row's cold set is found
        var mask: Int32  // `(1 << d) - 1`: its `d` distinct features are its first slots
    }

    /// Per tree, its leaves in `leaves`, or nil when that tree keeps the recursion.
    var trees: [Range<Int32>?] = []
    var leaves: [Leaf] = []
    /// `maxFeatures` slots per leaf (leaf `k`'s from `k * maxFeatures`): the feature's column, and
    /// `(1 - z) / z`, the factor when the row follows the feature's splits (else -1).
    var slotFeatures: [Int32] = []
    var slotHots: [Float] = []
    var values: [Float] = []
    /// The first of `maxFeatures` columns past the last feature: each leaf's slots are padded to
    /// `maxFeatures` with slots of these columns (discarded), so the loop over a leaf's slots has
    /// one length for every leaf (no mispredicted loop exit per leaf; the compiler unrolls it).
    /// One column per padding slot: with one shared column a leaf's padding adds waited on each
    /// other through memory (store, load, add), and the kernel's scatter needs a leaf's eight
    /// columns distinct.
    let spare: Int32
    /// A tree's splits in node order (parents before children), as the per-tree pass reads them:
    /// six `Int32`s, as `forest_kernel_shap_tree` reads them (checked in `kernelAvailable`).
    /// Leaves are not in it: the pass walks half the nodes, and reads 24 bytes a split.
    struct Split: Sendable {
        var packed: UInt32  // as in `CompiledForest.Node`: feature, and whether missing goes right
        var threshold: Float
        var node: Int32  // counted from the tree's root, as `left`, `right` and `Leaf.node`
        var left: Int32
        var right: Int32
        var bit: Int32  // `1 << slot` of the split's feature on every path through it
    }

    /// Per tree, its splits in `splits` (empty when the tree keeps the recursion).
    var splitRanges: [Range<Int32>] = []
    var splits: [Split] = []

    /// Whether `add` runs each tree through the AVX-512 kernel (else the Swift loops, the same
    /// arithmetic in the same order).
    let usesKernel: Bool

    /// - Parameters: `nodes` and `roots` as in `TreeSHAP` (children are absolute indices);
    ///   `kernel`: use the AVX-512 kernel where `kernelAvailable`.
    init(nodes: [TreeSHAP.Node], roots: [Int], featureCount: Int, kernel: Bool = LeafTables.kernelAvailable) {
        spare = Int32(featureCount)
        usesKernel = kernel && Self.kernelAvailable
        for (t, root) in roots.enumerated() {
            let end = t + 1 < roots.count ? roots[t + 1] : nodes.count
            let first = (leaves.count, slotFeatures.count, values.count, splits.count)
            var slots = [UInt8](repeating: 0, count: end - root)
            if addLeaves(nodes, root, end, slots: &slots) {
                trees.append(Int32(first.0)..<Int32(leaves.count))
                for n in root..<end where nodes[n].left >= 0 {
                    let node = nodes[n]
                    splits.append(
                        Split(
                            packed: node.packed, threshold: node.value, node: Int32(n - root), left: node.left - Int32(root),
                            right: node.right - Int32(root), bit: 1 << Int32(slots[n - root])))
                }
            } else {
                leaves.removeSubrange(first.0...)
                slotFeatures.removeSubrange(first.1...)
                slotHots.removeSubrange(first.1...)
                values.removeSubrange(first.2...)
                trees.append(nil)
            }
            splitRanges.append(Int32(first.3)..<Int32(splits.count))
        }
    }

    /// Tables every leaf of the tree at `root..<end`; false when one cannot be tabled.
    /// `slots` (one per node of the tree) gets the slot of each split's feature.
    private mutating func addLeaves(_ nodes: [TreeSHAP.Node], _ root: Int, _ end: Int, slots: inout [UInt8]) -> Bool {
        var assigned = [Bool](repeating: false, count: end - root)
        // (node, path from the root as (node, went left))
        var stack: [(Int, [(Int, Bool)])] = [(root, [])]
        while let (index, path) = stack.popLast() {
            let node = nodes[index]
            if node.left >= 0 {
                guard Int(node.left) > index, Int(node.right) > index, Int(node.left) < end, Int(node.right) < end else { return false }
                stack.append((Int(node.left), path + [(index, true)]))
                stack.append((Int(node.right), path + [(index, false)]))
                continue
            }
            if path.isEmpty { continue }  // a single-leaf tree gives only bias
            var features: [Int32] = []
            var zero: [Double] = []
            for (parent, left) in path {
                let split = nodes[parent]
                let feature = Int32(bitPattern: split.packed & 0x7FFF_FFFF)
                let child = nodes[Int(left ? split.left : split.right)]
                let slot = features.firstIndex(of: feature) ?? {
                    features.append(feature)
                    zero.append(1)
                    return features.count - 1
                }()
                zero[slot] *= Double(child.cover) / Double(split.cover)
                guard slot < Self.maxFeatures else { return false }
                // The same split gets the same slot on every path through it (see the type's note).
                let at = parent - root
                if assigned[at] {
                    guard slots[at] == UInt8(slot) else { return false }
                } else {
                    slots[at] = UInt8(slot)
                    assigned[at] = true
                }
            }
            let d = features.count
            guard d <= Self.maxFeatures, zero.allSatisfy({ $0 > 0 && $0.isFinite }) else { return false }
            for j in 0..<Self.maxFeatures {
                slotFeatures.append(j < d ? features[j] : spare + Int32(j))
                slotHots.append(j < d ? Float((1 - zero[j]) / zero[j]) : 0)
            }
            leaves.append(Leaf(table: Int32(values.count), node: Int32(index - root), mask: Int32((1 << d) - 1)))
            values += Self.table(zero: zero, value: Double(node.value))
        }
        return true
    }

    /// `v * F(A)` for every subset `A` of the leaf's features (bit `j` = feature slot `j`).
    private static func table(zero: [Double], value: Double) -> [Float] {
        let d = zero.count
        var factorial = [1.0]
        for i in 1...max(1, d) { factorial.append(factorial[i - 1] * Double(i)) }
        var f = [Double](repeating: 0, count: 1 << d)
        for set in 0..<(1 << d) {
            let size = set.nonzeroBitCount
            guard size < d else { continue }  // S never holds every feature (j is outside it)
            var product = factorial[size] * factorial[d - 1 - size] / factorial[d]
            for k in 0..<d where set & (1 << k) == 0 { product *= zero[k] }
            f[set] = product
        }
        // Sum over subsets (zeta transform): F(A) = Σ_{S ⊆ A} g(S).
        for bit in 0..<d {
            for set in 0..<(1 << d) where set & (1 << bit) != 0 { f[set] += f[set ^ (1 << bit)] }
        }
        return f.map { Float($0 * value) }
    }
}

extension LeafTables {
    /// Accumulators a tree's leaves take turns at: every leaf adds to the feature of the tree's
    /// root, so with one accumulator each leaf would wait for the previous one's add through
    /// memory (store, load, add). Summed into `phi` once per tree.
    static let lanes = 4

    /// Whether a tree can go through `forest_kernel_shap_tree` (AVX-512): the CPU has it, and
    /// `Leaf` and `Split` are laid out as the three and six `Int32`s the kernel reads.
    static let kernelAvailable =
        CompiledForest.kernelAvailable && MemoryLayout<Leaf>.stride == 12 && MemoryLayout<Leaf>.offset(of: \Leaf.table) == 0
        && MemoryLayout<Leaf>.offset(of: \Leaf.node) == 4 && MemoryLayout<Leaf>.offset(of: \Leaf.mask) == 8
        && MemoryLayout<Split>.stride == 24 && MemoryLayout<Split>.offset(of: \Split.packed) == 0
        && MemoryLayout<Split>.offset(of: \Split.threshold) == 4 && MemoryLayout<Split>.offset(of: \Split.node) == 8
        && MemoryLayout<Split>.offset(of: \Split.left) == 12 && MemoryLayout<Split>.offset(of: \Split.right) == 16
        && MemoryLayout<Split>.offset(of: \Split.bit) == 20

    /// Adds tree `t`'s contributions for `row` to `total` (`total[j] += 0 + φ_j`, as libxgboost
    /// adds a tree's own contributions, started at zero, to the row's). `cold` is scratch of at
    /// least the tree's node count, `lanes` of `LeafTables.lanes * (columns + maxFeatures)` floats
    /// (the spare columns); all pointers are borrowed from `TreeSHAP.contributions` for the call.
    func add(
        tree t: Int, _ range: Range<Int32>, row: UnsafePointer<Float>, cold: UnsafeMutablePointer<UInt8>, lanes: UnsafeMutablePointer<Float>,
        into total: UnsafeMutablePointer<Float>, columns: Int
    ) {
        let width = columns + Self.maxFeatures
        splits.withUnsafeBufferPointer { splits in
            leaves.withUnsafeBufferPointer { leaves in
                slotFeatures.withUnsafeBufferPointer { features in
                    slotHots.withUnsafeBufferPointer { hots in
                        values.withUnsafeBufferPointer { values in
                            let splitRange = splitRanges[t]
                            let splits = splits.baseAddress! + Int(splitRange.lowerBound), splitCount = splitRange.count
                            let leaves = leaves.baseAddress!, values = values.baseAddress!
                            let features = features.baseAddress!, hots = hots.baseAddress!
                            if usesKernel {
                                forest_kernel_shap_tree(
                                    UnsafePointer<Int32>(OpaquePointer(splits)), Int32(splitCount), row, cold,
                                    UnsafePointer<Int32>(OpaquePointer(leaves)), range.lowerBound, range.upperBound, features, hots, values,
                                    lanes, Int32(width), total, Int32(columns))
                                return
                            }
                            // The kernel's arithmetic in the same order. Wrapping arithmetic and raw
                            // pointers throughout: every index is in range by construction (checked
                            // at load), and Swift's overflow and shift checks, with the pointers
                            // reloaded around them, were a third of this loop's time (perf annotate).
                            cold[0] = 0
                            for s in 0..<splitCount {
                                let split = splits[s]
                                let right = CompiledForest.goesRight(CompiledForest.Node(threshold: split.threshold, packed: split.packed), row[Int(split.packed & 0x7FFF_FFFF)]) == 1
                                let mine = cold[Int(split.node)], both = mine | UInt8(truncatingIfNeeded: split.bit)
                                cold[Int(split.left)] = right ? both : mine
                                cold[Int(split.right)] = right ? mine : both
                            }
                            lanes.initialize(repeating: 0, count: Self.lanes &* width)
                            for k in Int(range.lowerBound)..<Int(range.upperBound) {
                                let leaf = leaves[k]
                                let lane = lanes + (k & (Self.lanes - 1)) &* width
                                let hot = ~Int(cold[Int(leaf.node)]) & Int(leaf.mask)
                                let table = values + Int(leaf.table)
                                let first = k &* Self.maxFeatures
                                for j in 0..<Self.maxFeatures {
                                    let bit = 1 &<< j
                                    let factor: Float = hot & bit != 0 ? hots[first &+ j] : -1
                                    lane[Int(features[first &+ j])] += factor * table[hot & ~bit]
                                }
                            }
                            let l1 = lanes + width, l2 = lanes + 2 &* width, l3 = lanes + 3 &* width
                            for j in 0..<columns {
                                total[j] += 0 + ((lanes[j] + l1[j]) + (l2[j] + l3[j]))
                            }
                        }
                    }
                }
            }
        }
    }
}
