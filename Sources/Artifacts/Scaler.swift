import Foundation

/// A fitted scikit-learn scaler, decoded from its pickle, that transforms rows with exactly
/// scikit-learn's float64 arithmetic and operation order:
/// - `StandardScaler`: `x -= mean_` (with_mean), then `x /= scale_` (with_std);
/// - `MinMaxScaler`: `x *= scale_`, `x += min_`, then `np.clip` to `feature_range` when `clip`;
/// - `RobustScaler`: `x -= center_` (with_centering), then `x /= scale_` (with_scaling);
/// - `MaxAbsScaler`: `x /= scale_`;
/// - `Pipeline` of these: each step in turn.
/// The result is rounded to `Float` once at the end, as xgboost does with float64 input.
///
/// Immutable; safe to share.
public struct Scaler: Sendable {
    /// One per-feature affine step, in scikit-learn's order.
    enum Step: Sendable {
        case subtract([Double])
        case divide([Double])
        case multiply([Double])
        case add([Double])
        case clip(Double, Double)
    }

    /// "StandardScaler", or "Pipeline(StandardScaler,MinMaxScaler)".
    public let kind: String
    /// `feature_names_in_`, when the scaler was fitted on a DataFrame.
    public let featureNames: [String]?
    /// `n_features_in_`.
    public let featureCount: Int
    /// StandardScaler's `mean_` and `scale_` (when both exist), the training baseline for drift.
    public let baseline: (mean: [Double], scale: [Double])?
    let steps: [Step]

    /// Reads a joblib or pickle file (zlib/gzip compressed or not) and decodes the scaler in it.
    /// - Throws: `ArtifactError`: `.forbiddenClass` for anything outside the whitelist (nothing runs),
    ///   `.unsupported` for an estimator that is not one of the scalers above, `.malformed` otherwise.
    public static func load(contentsOf url: URL) throws -> Scaler {
        try decode(try Joblib.load(contentsOf: url), path: url.path)
    }

    /// Builds a scaler from a decoded pickle value.
    public static func decode(_ value: PickleValue, path: String?) throws -> Scaler {
        guard case .object(let className, _, let state) = value, let state else {
            throw ArtifactError(.unsupported, "the file does not hold a fitted scikit-learn scaler", path: path)
        }
        let short = className.split(separator: ".").last.map(String.init) ?? className
        if short == "Pipeline" {
            guard let stepItems = state["steps"]?.items, !stepItems.isEmpty else {
                throw ArtifactError(.malformed, "Pipeline has no steps", path: path)
            }
            var parts: [Scaler] = []
            for item in stepItems {
                guard let pair = item.items, pair.count == 2 else { throw ArtifactError(.malformed, "Pipeline step is not (name, estimator)", path: path) }
                if case .string("passthrough") = pair[1] { continue }
                if pair[1].isNone { continue }
                parts.append(try decode(pair[1], path: path))
            }
            guard let first = parts.first else { throw ArtifactError(.malformed, "Pipeline has only passthrough steps", path: path) }
            for (a, b) in zip(parts, parts.dropFirst()) where a.featureCount != b.featureCount {
                throw ArtifactError(.mismatch, "Pipeline steps disagree on the feature count", path: path)
            }
            return Scaler(
                kind: "Pipeline(\(parts.map(\.kind).joined(separator: ",")))", featureNames: first.featureNames,
                featureCount: first.featureCount, baseline: first.baseline, steps: parts.flatMap(\.steps))
        }

        guard let featureCount = state["n_features_in_"]?.intValue, featureCount > 0 else {
            throw ArtifactError(.malformed, "\(short) is not fitted (no n_features_in_)", path: path)
        }
        var featureNames: [String]?
        if case .ndarray(let names)? = state["feature_names_in_"] {
            guard let strings = names.strings, strings.count == featureCount else {
                throw ArtifactError(.malformed, "feature_names_in_ is not \(featureCount) strings", path: path)
            }
            featureNames = strings
        }
        func vector(_ key: String) throws -> [Double]? {
            guard let value = state[key], !value.isNone else { return nil }
            guard case .ndarray(let array) = value, let doubles = array.doubles, doubles.count == featureCount else {
                throw ArtifactError(.malformed, "\(short).\(key) is not \(featureCount) numbers", path: path)
            }
            return doubles
        }
        func required(_ key: String) throws -> [Double] {
            guard let v = try vector(key) else { throw ArtifactError(.malformed, "\(short) has no \(key)", path: path) }
            return v
        }
        func flag(_ key: String, default value: Bool) -> Bool { state[key]?.boolValue ?? value }

        var steps: [Step] = []
        var baseline: (mean: [Double], scale: [Double])?
        switch short {
        case "StandardScaler":
            let mean = flag("with_mean", default: true) ? try vector("mean_") : nil
            let scale = flag("with_std", default: true) ? try vector("scale_") : nil
            if let mean { steps.append(.subtract(mean)) }
            if let scale { steps.append(.divide(scale)) }
            if let mean, let scale { baseline = (mean, scale) }
        case "MinMaxScaler":
            steps.append(.multiply(try required("scale_")))
            steps.append(.add(try required("min_")))
            if flag("clip", default: false) {
                guard let range = state["feature_range"]?.items, range.count == 2, let low = range[0].doubleValue, let high = range[1].doubleValue else {
                    throw ArtifactError(.malformed, "MinMaxScaler.feature_range is not (min, max)", path: path)
                }
                steps.append(.clip(low, high))
            }
        case "RobustScaler":
            if flag("with_centering", default: true), let center = try vector("center_") { steps.append(.subtract(center)) }
            if flag("with_scaling", default: true), let scale = try vector("scale_") { steps.append(.divide(scale)) }
        case "MaxAbsScaler":
            steps.append(.divide(try required("scale_")))
        default:
            throw ArtifactError(.unsupported, "\(className) is not a supported scaler", path: path)
        }
        return Scaler(kind: short, featureNames: featureNames, featureCount: featureCount, baseline: baseline, steps: steps)
    }

    /// One row, float64 out (for tests and the CLI).
    public func transform(_ row: [Double]) -> [Double] {
        precondition(row.count == featureCount, "expected \(featureCount) values")
        var x = row
        for step in steps {
            switch step {
            case .subtract(let v): for i in x.indices { x[i] -= v[i] }
            case .divide(let v): for i in x.indices { x[i] /= v[i] }
            case .multiply(let v): for i in x.indices { x[i] *= v[i] }
            case .add(let v): for i in x.indices { x[i] += v[i] }
            case .clip(let low, let high): for i in x.indices { x[i] = Self.clip(x[i], low, high) }
            }
        }
        return x
    }

    /// `count` rows of raw float64 values (row-major) into float32 scaled values, same layout.
    public func transform(rows input: UnsafeBufferPointer<Double>, count: Int, into output: UnsafeMutableBufferPointer<Float>) {
        let width = featureCount
        precondition(input.count >= count * width && output.count >= count * width, "buffers too small")
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else { return }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: width) { x in
            for r in 0..<count {
                let row = inBase + r * width
                for i in 0..<width { x[i] = row[i] }
                for step in steps {
                    switch step {
                    case .subtract(let v): v.withUnsafeBufferPointer { v in for i in 0..<width { x[i] -= v[i] } }
                    case .divide(let v): v.withUnsafeBufferPointer { v in for i in 0..<width { x[i] /= v[i] } }
                    case .multiply(let v): v.withUnsafeBufferPointer { v in for i in 0..<width { x[i] *= v[i] } }
                    case .add(let v): v.withUnsafeBufferPointer { v in for i in 0..<width { x[i] += v[i] } }
                    case .clip(let low, let high): for i in 0..<width { x[i] = Self.clip(x[i], low, high) }
                    }
                }
                let out = outBase + r * width
                for i in 0..<width { out[i] = Float(x[i]) }
            }
        }
    }

    /// numpy's clip: NaN stays NaN.
    @inline(__always) static func clip(_ x: Double, _ low: Double, _ high: Double) -> Double {
        x.isNaN ? x : Swift.min(Swift.max(x, low), high)
    }
}
