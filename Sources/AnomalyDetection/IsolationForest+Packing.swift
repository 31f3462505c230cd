/// How a fitted forest's trees are laid out for scoring. Written by hand with the rest of the
/// Isolation Forest (see IsolationForest.swift): the layout is what makes scoring fast.

/// One step down a tree for a row, and the path length where a walk of the tree's full depth ends.
protocol TreeWalker {
    func step(_ node: Int, _ row: UnsafePointer<Double>) -> Int
    func value(at node: Int) -> Double
}

/// The trees packed once at init, and walked by `IsolationForest.meanPathLengths`.
///
/// - Complete layout (every tree no deeper than `implicitDepthLimit`, the usual case: the depth
///   limit is ceil(log2(max_samples)), 8 for the default 256): a tree of depth D keeps its splits
///   in 2^D - 1 slots, children at 2i+1 and 2i+2, and 2^D leaf values. A leaf above depth D
///   fills every leaf slot under it, so whichever way the walk goes below it, it ends on its value.
///   The next node is arithmetic on the comparison: one dependent load per level fewer.
/// - Linked layout (deeper trees, where 2^D slots would not fit in cache): nodes with child
///   indexes; a leaf points at itself on both sides.
struct PackedForest: Sendable {
    static let implicitDepthLimit = 12

    struct Split {
        var threshold: Double
        var feature: Int32
    }

    struct Linked {
        var feature: Int32
        var left: Int32
        var right: Int32
        var value: Double
    }

    private let splits: [Split]
    private let leaves: [Double]
    private let linked: [Linked]
    /// Per tree: where its splits (or linked nodes) start, where its leaves start, its depth.
    private let splitStarts: [Int]
    private let leafStarts: [Int]
    private let depths: [Int]

    /// Bytes its arrays hold (capacity), for memory budgets.
    var memoryBytes: Int {
        splits.capacity * MemoryLayout<Split>.stride + leaves.capacity * 8 + linked.capacity * MemoryLayout<Linked>.stride
            + (splitStarts.capacity + leafStarts.capacity + depths.capacity) * MemoryLayout<Int>.stride
    }

    init(_ trees: [IsolationForest.Tree]) {
        let depths = trees.map(Self.depth)
        self.depths = depths
        var splits: [Split] = [], leaves: [Double] = [], linked: [Linked] = []
        var splitStarts: [Int] = [], leafStarts: [Int] = []
        if (depths.max() ?? 0) <= Self.implicitDepthLimit {
            for (tree, depth) in zip(trees, depths) {
                splitStarts.append(splits.count)
                leafStarts.append(leaves.count)
                let firstLeaf = (1 << depth) - 1
                let splitBase = splits.count, leafBase = leaves.count
                splits += repeatElement(Split(threshold: 0, feature: 0), count: firstLeaf)
                leaves += repeatElement(0, count: 1 << depth)
                var stack: [(node: Int, slot: Int, level: Int)] = [(0, 0, 0)]
                while let (node, slot, level) = stack.popLast() {
                    if tree.feature[node] < 0 {
                        var low = slot, high = slot
                        for _ in level..<depth {
                            low = 2 * low + 1
                            high = 2 * high + 2
                        }
                        for position in low...high { leaves[leafBase + position - firstLeaf] = tree.threshold[node] }
                    } else {
                        splits[splitBase + slot] = Split(threshold: tree.threshold[node], feature: tree.feature[node])
                        stack.append((Int(tree.left[node]), 2 * slot + 1, level + 1))
                        stack.append((Int(tree.right[node]), 2 * slot + 2, level + 1))
                    }
                }
            }
        } else {
            for tree in trees {
                splitStarts.append(linked.count)
                for k in tree.feature.indices {
                    let leaf = tree.feature[k] < 0
                    linked.append(
                        Linked(
                            feature: leaf ? 0 : tree.feature[k], left: leaf ? Int32(k) : tree.left[k], right: leaf ? Int32(k) : tree.right[k],
                            value: tree.threshold[k]))
                }
            }
        }
        self.splits = splits
        self.leaves = leaves
        self.linked = linked
        self.splitStarts = splitStarts
        self.leafStarts = leafStarts
    }

    /// The longest root-to-leaf walk.
    static func depth(_ tree: IsolationForest.Tree) -> Int {
        var deepest = 0
        var stack: [(node: Int, depth: Int)] = [(0, 0)]
        while let (node, depth) = stack.popLast() {
            if tree.feature[node] < 0 {
                deepest = max(deepest, depth)
            } else {
                stack.append((Int(tree.left[node]), depth + 1))
                stack.append((Int(tree.right[node]), depth + 1))
            }
        }
        return deepest
    }

    /// Adds every tree's path length to `output` for each row in `rows` (row-major, `width`
    /// values a row).
    func addPathLengths(rows: Range<Int>, input: UnsafePointer<Double>, width: Int, output: UnsafeMutablePointer<Double>) {
        if linked.isEmpty {
            splits.withUnsafeBufferPointer { splits in
                leaves.withUnsafeBufferPointer { leaves in
                    for t in depths.indices {
                        let depth = depths[t]
                        let tree = Complete(splits: splits.baseAddress! + splitStarts[t], leaves: leaves.baseAddress! + leafStarts[t] - ((1 << depth) - 1))
                        Self.walk(tree, depth: depth, rows: rows, input: input, width: width, output: output)
                    }
                }
            }
        } else {
            linked.withUnsafeBufferPointer { nodes in
                for t in depths.indices {
                    Self.walk(LinkedWalker(nodes: nodes.baseAddress! + splitStarts[t]), depth: depths[t], rows: rows, input: input, width: width, output: output)
                }
            }
        }
    }

    /// Adds one tree's path length to `output` for each row in `rows`, eight rows at a time.
    @inline(__always)
    private static func walk<W: TreeWalker>(
        _ tree: W, depth: Int, rows: Range<Int>, input: UnsafePointer<Double>, width: Int, output: UnsafeMutablePointer<Double>
    ) {
        var r = rows.lowerBound
        while r + 8 <= rows.upperBound {
            let row0 = input + r * width, row1 = row0 + width, row2 = row1 + width, row3 = row2 + width
            let row4 = row3 + width, row5 = row4 + width, row6 = row5 + width, row7 = row6 + width
            var n0 = 0, n1 = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0, n6 = 0, n7 = 0
            for _ in 0..<depth {
                n0 = tree.step(n0, row0)
                n1 = tree.step(n1, row1)
                n2 = tree.step(n2, row2)
                n3 = tree.step(n3, row3)
                n4 = tree.step(n4, row4)
                n5 = tree.step(n5, row5)
                n6 = tree.step(n6, row6)
                n7 = tree.step(n7, row7)
            }
            output[r] += tree.value(at: n0)
            output[r + 1] += tree.value(at: n1)
            output[r + 2] += tree.value(at: n2)
            output[r + 3] += tree.value(at: n3)
            output[r + 4] += tree.value(at: n4)
            output[r + 5] += tree.value(at: n5)
            output[r + 6] += tree.value(at: n6)
            output[r + 7] += tree.value(at: n7)
            r += 8
        }
        while r < rows.upperBound {
            let row = input + r * width
            var node = 0
            for _ in 0..<depth { node = tree.step(node, row) }
            output[r] += tree.value(at: node)
            r += 1
        }
    }

    /// A complete-layout tree. `leaves` is offset so that the node index a walk ends on indexes it.
    struct Complete: TreeWalker {
        let splits: UnsafePointer<Split>
        let leaves: UnsafePointer<Double>

        @inline(__always) func step(_ node: Int, _ row: UnsafePointer<Double>) -> Int {
            let split = splits[node]
            // Left (2i+1) when row <= threshold, else right; the comparison's bit, not a branch
            // (a ternary here compiled to a jump for some of the eight walks).
            let left = unsafeBitCast(row[Int(split.feature)] <= split.threshold, to: UInt8.self)
            return 2 &* node &+ 2 &- Int(left)
        }

        @inline(__always) func value(at node: Int) -> Double { leaves[node] }
    }

    struct LinkedWalker: TreeWalker {
        let nodes: UnsafePointer<Linked>

        @inline(__always) func step(_ node: Int, _ row: UnsafePointer<Double>) -> Int {
            let n = nodes[node]
            return Int(row[Int(n.feature)] <= n.value ? n.left : n.right)
        }

        @inline(__always) func value(at node: Int) -> Double { nodes[node].value }
    }
}
