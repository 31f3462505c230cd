extension CompiledForest {
    /// Trees up to this depth are padded to complete trees (at most `2^depth` leaves each, 3 KB
    /// at depth 8); deeper forests use node lists, whose size follows the real node count.
    static let completeDepthLimit = 8

    /// Lays out a checked dump's trees.
    /// - Parameter completeDepthLimit: deepest forest given the complete layout (tests lower it
    ///   to exercise the list layout on the fixture models).
    init(dump: ForestDump, completeDepthLimit: Int = CompiledForest.completeDepthLimit) {
        featureCount = dump.featureCount
        treeCount = dump.trees.count
        baseMargin = dump.baseMargin
        let depth = dump.trees.map(\.depth).max() ?? 0
        layout = depth <= completeDepthLimit ? Self.complete(dump.trees, depth: depth) : Self.list(dump.trees)
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
