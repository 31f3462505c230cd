import CForestKernel

extension CompiledForest {
    /// Trees up to this depth are padded to complete trees (at most `2^depth` leaves each, 3 KB
    /// at depth 8); deeper forests use node lists, whose size follows the real node count.
    static let completeDepthLimit = 8

    /// Lays out a checked dump's trees.
    /// - Parameter completeDepthLimit: deepest forest given the complete layout (tests lower it
    ///   to exercise the list layout on the fixture models).
    /// - Parameter kernel: whether to walk complete trees with the AVX-512 kernel when they are
    ///   shallow enough (tests turn it off to compare it with the Swift walk).
    init(dump: ForestDump, completeDepthLimit: Int = CompiledForest.completeDepthLimit, kernel: Bool = CompiledForest.kernelAvailable) {
        featureCount = dump.featureCount
        treeCount = dump.trees.count
        baseMargin = dump.baseMargin
        let depth = dump.trees.map(\.depth).max() ?? 0
        layout = depth <= completeDepthLimit ? Self.complete(dump.trees, depth: depth) : Self.list(dump.trees)
        if kernel, case .complete(let depth, let nodes, let leaves) = layout, depth <= FOREST_KERNEL_MAX_DEPTH, dump.trees.count <= 1 << 20,
            dump.featureCount <= FOREST_KERNEL_MAX_WIDTH
        {
            kernelTables = Self.kernelTables(trees: dump.trees.count, depth: depth, nodes: nodes, leaves: leaves)
        } else {
            kernelTables = []
        }
    }

    /// The complete layout as forest_kernel.c reads it: per tree 64 thresholds (float bits), 64
    /// packed nodes, 64 leaf values, the unused ends zero.
    private static func kernelTables(trees: Int, depth: Int, nodes: [Node], leaves: [Float]) -> [UInt32] {
        let words = Int(FOREST_KERNEL_TREE_WORDS)
        let internalCount = (1 << depth) - 1
        var tables = [UInt32](repeating: 0, count: trees * words)
        for t in 0..<trees {
            for i in 0..<internalCount {
                let node = nodes[t * internalCount + i]
                tables[t * words + i] = node.threshold.bitPattern
                tables[t * words + 64 + i] = node.packed
            }
            for i in 0...internalCount { tables[t * words + 128 + i] = leaves[t * (internalCount + 1) + i].bitPattern }
        }
        return tables
    }

    static func packed(_ tree: ForestDump.Tree, _ node: Int) -> UInt32 {
        UInt32(tree.feature[node]) | (tree.defaultLeft[node] ? 0 : 1 << 31)
    }

    private static func complete(_ trees: [ForestDump.Tree], depth: Int) -> Layout {
        let internalCount = (1 << depth) - 1
        var nodes = [Node](repeating: Node(threshold: 0, packed: 0), count: trees.count * internalCount)
        var leaves = [Float](repeating: 0, count: trees.count * (internalCount + 1))
        for (t, tree) in trees.enumerated() {
            // (node in the dump, position in the complete tree, level)
            var stack = [(0, 0, 0)]
            while let (node, position, level) = stack.popLast() {
                if level == depth {
                    leaves[t * (internalCount + 1) + position - internalCount] = tree.condition[node]
                } else if tree.isLeaf(node) {
                    // A leaf above the last level: a split that sends both ways to copies of the
                    // same leaf value, so any comparison result gives the libxgboost answer.
                    stack.append((node, 2 * position + 1, level + 1))
                    stack.append((node, 2 * position + 2, level + 1))
                } else {
                    nodes[t * internalCount + position] = Node(threshold: tree.condition[node], packed: packed(tree, node))
                    stack.append((Int(tree.left[node]), 2 * position + 1, level + 1))
                    stack.append((Int(tree.right[node]), 2 * position + 2, level + 1))
                }
            }
        }
        return .complete(depth: depth, nodes: nodes, leaves: leaves)
    }

    private static func list(_ trees: [ForestDump.Tree]) -> Layout {
        var nodes: [ListNode] = []
        var roots: [Int] = []
        for tree in trees {
            roots.append(nodes.count)
            nodes.append(ListNode(threshold: 0, packed: 0, left: -1))
            // Breadth first, siblings side by side so the right child is `left + 1`.
            var queue = [(0, roots.last!)]
            var next = 0
            while next < queue.count {
                let (node, position) = queue[next]
                next += 1
                if tree.isLeaf(node) {
                    nodes[position] = ListNode(threshold: tree.condition[node], packed: 0, left: -1)
                    continue
                }
                let left = nodes.count
                nodes.append(contentsOf: repeatElement(ListNode(threshold: 0, packed: 0, left: -1), count: 2))
                nodes[position] = ListNode(threshold: tree.condition[node], packed: packed(tree, node), left: Int32(left))
                queue.append((Int(tree.left[node]), left))
                queue.append((Int(tree.right[node]), left + 1))
            }
        }
        return .list(roots: roots, nodes: nodes)
    }
}
