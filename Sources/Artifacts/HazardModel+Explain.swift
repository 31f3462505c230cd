/// Why one reading got its probability: exact TreeSHAP contributions in log-odds.
public struct Explanation: Sendable, Equatable {
    public struct Contribution: Sendable, Equatable {
        public let feature: String
        /// Log-odds this feature's value added to (or, negative, took from) the margin.
        public let value: Double
    }

    /// Largest `|value|` first; all features, or the `top` asked for.
    public let contributions: [Contribution]
    /// The model's expected margin (base score plus each tree's cover-weighted mean leaf).
    public let bias: Double
    /// The served margin, exactly; `bias` plus every feature's contribution equals it to float rounding.
    public let margin: Double
    /// The served probability, as `HazardModel.probabilities` gives it.
    public let probability: Float
}

extension HazardModel {
    /// Explanations of `rows` raw (unscaled) readings, row-major in `featureNames` order: per
    /// reading the `top` largest contributions (all when nil), the bias and the margin.
    ///
    /// The compiled TreeSHAP when the compiled forest serves, else the C API's `pred_contribs`;
    /// both are the exact path-dependent TreeSHAP and agree to float rounding.
    /// - Throws: `ArtifactError(.mismatch)` when the buffer is not `rows * featureCount` long.
    public func explain(raw: UnsafeBufferPointer<Double>, rows: Int, top: Int? = nil) throws -> [Explanation] {
        guard raw.count == rows * featureCount else {
            throw ArtifactError(.mismatch, "expected \(rows) x \(featureCount) values, got \(raw.count)")
        }
        guard rows > 0 else { return [] }
        var scaled = [Float](repeating: 0, count: rows * featureCount)
        scaled.withUnsafeMutableBufferPointer { scaler.transform(rows: raw, count: rows, into: $0) }
        let width = featureCount + 1
        let (values, margins, probabilities): ([Float], [Float], [Float]) = try scaled.withUnsafeBufferPointer { input in
            if let shap, let forest {
                let values = shap.contributions(input.baseAddress!, count: rows)
                let margins = try forest.margins(input, rows: rows)
                return (values, margins, margins.map(CompiledForest.sigmoid))
            }
            return (try booster.contributions(input, rows: rows), try booster.margins(input, rows: rows), try booster.predict(input, rows: rows))
        }
        let count = min(top ?? featureCount, featureCount)
        return (0..<rows).map { row in
            let contributions = values[(row * width)..<(row * width + featureCount)]
            let bias = Double(values[row * width + featureCount])
            let ranked = contributions.indices
                .sorted { abs(contributions[$0]) > abs(contributions[$1]) }
                .prefix(count)
                .map { Explanation.Contribution(feature: featureNames[$0 - row * width], value: Double(contributions[$0])) }
            return Explanation(contributions: ranked, bias: bias, margin: Double(margins[row]), probability: probabilities[row])
        }
    }

    /// How explanations are computed: the compiled TreeSHAP (and how many trees go through its
    /// leaf tables, the fast path) or the C API.
    public var explainerDescription: String {
        guard let shap, forest != nil else { return "the C API's pred_contribs" }
        let footprint = shap.tableFootprint
        return "TreeSHAP, leaf tables\(shap.usesKernel ? " (AVX-512 kernel per tree)" : "") for \(shap.tabledTrees) of \(shap.treeCount) trees (\(footprint.leaves) leaves, "
            + "\(String(format: "%.2f", Double(footprint.bytes) / 1_048_576)) MiB read per reading)"
    }

    /// Convenience for callers holding dictionaries (the CLI, tests): every feature must be present.
    public func explain(readings: [[String: Double]], top: Int? = nil) throws -> [Explanation] {
        try rawRows(readings).withUnsafeBufferPointer { try explain(raw: $0, rows: readings.count, top: top) }
    }
}
