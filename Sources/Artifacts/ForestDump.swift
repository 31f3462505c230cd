import Foundation

/// The trees of a loaded booster as libxgboost's JSON dump describes them (`Booster.modelJSON()`),
/// checked to be a model the compiled forest and TreeSHAP evaluate exactly as libxgboost does:
/// one gbtree ensemble of numeric splits with one output, binary:logistic.
///
/// Node arrays keep libxgboost's own numbering (node 0 the root, `-1` for no child).
struct ForestDump: Sendable {
    struct Tree: Sendable {
        var left: [Int32]
        var right: [Int32]
        var feature: [Int32]
        /// The split threshold at an internal node; at a leaf, the leaf value.
        var condition: [Float]
        var defaultLeft: [Bool]
        /// Cover (`sum_hess`): TreeSHAP's weights.
        var cover: [Float]
        /// Depth of the deepest leaf (0 for a single leaf).
        var depth: Int

        var nodeCount: Int { left.count }
        func isLeaf(_ node: Int) -> Bool { left[node] < 0 }
    }

    var trees: [Tree]
    var featureCount: Int
    /// base_score as libxgboost holds it after loading (a probability), float32.
    var baseScore: Float

    /// The margin every prediction starts from: `ProbToMargin` of binary:logistic in
    /// libxgboost 1.7.4 (`src/objective/regression_loss.h`), computed in float as it is there.
    var baseMargin: Float { -logf(1 / baseScore - 1) }

    /// Trees deeper than this are refused: the walks and TreeSHAP's path buffers are sized by depth.
    static let maxDepth = 64

    /// Reads libxgboost's JSON dump.
    /// - Throws: `ArtifactError(.unsupported)` naming what libxgboost does here that the compiled
    ///   forest would not repeat exactly (dart, categorical splits, several outputs, another objective);
    ///   `.malformed` for a dump that does not describe a tree ensemble.
    init(json: [UInt8]) throws {
        let model: Model
        do {
            model = try JSONDecoder().decode(Model.self, from: Data(json))
        } catch {
            throw ArtifactError(.malformed, "libxgboost's JSON dump could not be read: \(error)")
        }
        let learner = model.learner
        guard learner.objective.name == "binary:logistic" else {
            throw ArtifactError(.unsupported, "objective \(learner.objective.name) is evaluated by the C API only")
        }
        guard learner.gradient_booster.name == "gbtree", let booster = learner.gradient_booster.model else {
            throw ArtifactError(.unsupported, "booster \(learner.gradient_booster.name) is evaluated by the C API only")
        }
        let param = learner.learner_model_param
        guard (Int(param.num_class) ?? 0) <= 1, (param.num_target.flatMap { Int($0) } ?? 1) <= 1,
            booster.tree_info.allSatisfy({ $0 == 0 })
        else {
            throw ArtifactError(.unsupported, "models with several outputs are evaluated by the C API only")
        }
        guard let features = Int(param.num_feature), features > 0 else {
            throw ArtifactError(.malformed, "the JSON dump has no feature count")
        }
        guard let base = Float(param.base_score), base > 0, base < 1 else {
            throw ArtifactError(.unsupported, "base_score \(param.base_score) is not a probability in (0, 1)")
        }
        featureCount = features
        baseScore = base
        trees = try booster.trees.enumerated().map { index, tree in
            guard tree.id == nil || tree.id == index else { throw ArtifactError(.malformed, "tree \(index) is numbered \(tree.id!)") }
            return try Self.tree(tree, index: index, features: features)
        }
    }

    private static func tree(_ t: Model.Tree, index: Int, features: Int) throws -> Tree {
        let n = t.left_children.count
        guard n > 0, [t.right_children.count, t.split_indices.count, t.split_conditions.count, t.default_left.count, t.sum_hessian.count]
            .allSatisfy({ $0 == n })
        else {
            throw ArtifactError(.malformed, "tree \(index): node arrays of different lengths")
        }
        if (t.split_type ?? []).contains(where: { $0 != 0 }) || !(t.categories ?? []).isEmpty {
            throw ArtifactError(.unsupported, "tree \(index) has categorical splits: evaluated by the C API only")
        }
        var tree = Tree(
            left: t.left_children, right: t.right_children, feature: t.split_indices, condition: t.split_conditions,
            defaultLeft: t.default_left.map { $0 != 0 }, cover: t.sum_hessian, depth: 0)
        // Walk from the root: every node reached once, children in range, depth bounded.
        var seen = [Bool](repeating: false, count: n)
        var stack: [(node: Int, depth: Int)] = [(0, 0)]
        while let (node, depth) = stack.popLast() {
            guard !seen[node], depth <= maxDepth else {
                throw ArtifactError(.malformed, "tree \(index) is not a tree of depth <= \(maxDepth)")
            }
            seen[node] = true
            tree.depth = max(tree.depth, depth)
            let (l, r) = (Int(tree.left[node]), Int(tree.right[node]))
            if l < 0 && r < 0 { continue }
            guard (0..<n).contains(l), (0..<n).contains(r), (0..<features).contains(Int(tree.feature[node])) else {
                throw ArtifactError(.malformed, "tree \(index) node \(node) has a child or feature out of range")
            }
            stack.append((l, depth + 1))
            stack.append((r, depth + 1))
        }
        return tree
    }

    /// The parts of libxgboost's JSON model this reads (field names are libxgboost's).
    private struct Model: Decodable {
        struct Learner: Decodable {
            struct Objective: Decodable { let name: String }
            struct Param: Decodable {
                let base_score: String
                let num_class: String
                let num_feature: String
                let num_target: String?
            }
            struct GradientBooster: Decodable {
                let name: String
                let model: Ensemble?
            }
            let objective: Objective
            let learner_model_param: Param
            let gradient_booster: GradientBooster
        }
        struct Ensemble: Decodable {
            let trees: [Tree]
            let tree_info: [Int]
        }
        struct Tree: Decodable {
            let id: Int?
            let left_children: [Int32]
            let right_children: [Int32]
            let split_indices: [Int32]
            let split_conditions: [Float]
            let default_left: [UInt8]
            let sum_hessian: [Float]
            let split_type: [UInt8]?
            let categories: [Int32]?
        }
        let learner: Learner
    }
}
