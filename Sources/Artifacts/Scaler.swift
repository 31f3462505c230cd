import Foundation

/// A fitted scikit-learn scaler, decoded from its joblib or pickle file, that transforms rows
/// with exactly scikit-learn's float64 arithmetic and operation order:
/// - `StandardScaler`: `x -= mean_` (with_mean), then `x /= scale_` (with_std);
/// - `MinMaxScaler`: `x *= scale_`, then `x += min_`, then `np.clip` to `feature_range` (clip);
/// - `RobustScaler`: `x -= center_` (with_centering), then `x /= scale_` (with_scaling);
/// - `MaxAbsScaler`: `x /= scale_`, then `np.clip` to [-1, 1] (clip, scikit-learn >= 1.8);
/// - `Pipeline` of these (and "passthrough"): each step in turn.
/// Every step is element-wise, so each value sees the same IEEE operations, in the same order,
/// as in numpy; the float32 path rounds once at the end, as xgboost does with float64 input.
///
/// Immutable and `Sendable`: share one instance between any number of concurrent requests.
public struct Scaler: Sendable {
    /// One element-wise step; `offset` indexes `parameters` (one value per feature, or for
    /// `clip` the two bounds).
    @usableFromInline
    struct Step: Sendable {
        @usableFromInline enum Operation: Sendable { case subtract, divide, multiply, add, clip }
        @usableFromInline let operation: Operation
        @usableFromInline let offset: Int
    }

    /// "StandardScaler", or for a pipeline "Pipeline(StandardScaler,MinMaxScaler)".
    public let kind: String
    /// `feature_names_in_`, when the scaler was fitted on a DataFrame with string column names.
    public let featureNames: [String]?
    /// `n_features_in_`: the width of every input and output row.
    public let featureCount: Int
    /// StandardScaler's `mean_` and `scale_` (when it is the first step and both exist): the
    /// training distribution, for drift monitoring.
    public let baseline: (mean: [Double], scale: [Double])?

    @usableFromInline let steps: [Step]
    @usableFromInline let parameters: [Double]

    /// Reads a joblib or pickle file (uncompressed, zlib or gzip) and decodes the scaler in it.
    /// - Throws: `ArtifactError`: `.notFound` (unreadable file), `.forbiddenClass` (any class
    ///   outside the whitelist, including other estimators; nothing runs), `.unsupported`
    ///   (compressor, dtype, protocol), `.malformed` or `.mismatch` (inconsistent scaler state).
    public static func load(contentsOf url: URL) throws -> Scaler {
        try decode(try Joblib.load(contentsOf: url), path: url.path)
    }

    /// Builds a scaler from a decoded pickle value.
    /// - Throws: `ArtifactError` as for `load(contentsOf:)`.
    public static func decode(_ value: PickleValue, path: String?) throws -> Scaler {
        var builder = Builder(path: path)
        let part = try builder.part(value)
        guard let featureCount = part.featureCount else {
            throw ArtifactError(.malformed, "the pipeline has only passthrough steps", path: path)
        }
        return Scaler(
            kind: part.kind, featureNames: part.featureNames, featureCount: featureCount, baseline: part.baseline,
            steps: builder.steps, parameters: builder.parameters)
    }

    private init(
        kind: String, featureNames: [String]?, featureCount: Int, baseline: (mean: [Double], scale: [Double])?,
        steps: [Step], parameters: [Double]
    ) {
        self.kind = kind
        self.featureNames = featureNames
        self.featureCount = featureCount
        self.baseline = baseline
        self.steps = steps
        self.parameters = parameters
    }

    // MARK: - Transforming

    /// One row of `featureCount` raw values to scaled float64 values.
    /// - Precondition: `row.count == featureCount` (callers validate requests first).
    public func transform(_ row: [Double]) -> [Double] {
        precondition(row.count == featureCount, "Scaler.transform expects \(featureCount) values, got \(row.count)")
        var x = row
        x.withUnsafeMutableBufferPointer { apply(to: $0, rows: 1) }
        return x
    }

    /// `count` rows of raw float64 values (row-major, `count * featureCount`) into float32 scaled
    /// values in the same layout: float64 arithmetic, one rounding to Float per value. Does not
    /// allocate per row (blocks of rows are scaled in a stack buffer).
    /// - Precondition: both buffers hold at least `count * featureCount` values.
    @inlinable
    public func transform(rows: UnsafeBufferPointer<Double>, count: Int, into out: UnsafeMutableBufferPointer<Float>) {
        let width = featureCount
        let total = count.multipliedReportingOverflow(by: width)
        precondition(count >= 0 && !total.overflow && rows.count >= total.partialValue && out.count >= total.partialValue,
            "Scaler.transform: buffers smaller than \(count) rows of \(width)")
        guard total.partialValue > 0, let source = rows.baseAddress, let destination = out.baseAddress else { return }
        let blockRows = Swift.max(1, 512 / width)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: blockRows * width) { block in
            var row = 0
            while row < count {
                let n = Swift.min(blockRows, count - row)
                let values = n * width
                let start = row * width
                for i in 0..<values { block[i] = source[start + i] }
                apply(to: UnsafeMutableBufferPointer(rebasing: block[0..<values]), rows: n)
                for i in 0..<values { destination[start + i] = Float(block[i]) }
                row += n
            }
        }
    }

    /// Runs every step over `rows` rows held in `x`, in place.
    @usableFromInline
    func apply(to x: UnsafeMutableBufferPointer<Double>, rows: Int) {
        let width = featureCount
        parameters.withUnsafeBufferPointer { p in
            for step in steps {
                let o = step.offset
                switch step.operation {
                case .subtract:
                    for r in 0..<rows { for i in 0..<width { x[r * width + i] -= p[o + i] } }
                case .divide:
                    for r in 0..<rows { for i in 0..<width { x[r * width + i] /= p[o + i] } }
                case .multiply:
                    for r in 0..<rows { for i in 0..<width { x[r * width + i] *= p[o + i] } }
                case .add:
                    for r in 0..<rows { for i in 0..<width { x[r * width + i] += p[o + i] } }
                case .clip:
                    let low = p[o], high = p[o + 1]
                    for j in 0..<(rows * width) { x[j] = Self.clip(x[j], low, high) }
                }
            }
        }
    }

    /// numpy's clip for floats: `min(max(x, low), high)` where NaN propagates and ties keep the
    /// bound (`x > low ? x : low`), which also fixes the sign of zero as numpy does.
    @inlinable @inline(__always)
    static func clip(_ x: Double, _ low: Double, _ high: Double) -> Double {
        let raised = x.isNaN ? x : (x > low ? x : low)
        return raised.isNaN ? raised : (raised < high ? raised : high)
    }
}

// MARK: - Decoding scikit-learn state

extension Scaler {
    /// Accumulates the steps and parameters of a scaler or pipeline, validating as it goes.
    private struct Builder {
        let path: String?
        var steps: [Step] = []
        var parameters: [Double] = []

        struct Part {
            var kind: String
            var featureNames: [String]?
            /// nil for "passthrough", which fits any width.
            var featureCount: Int?
            var baseline: (mean: [Double], scale: [Double])?
        }

        init(path: String?) { self.path = path }

        func error(_ kind: ArtifactError.Kind, _ message: String) -> ArtifactError {
            ArtifactError(kind, message, path: path)
        }

        mutating func part(_ value: PickleValue, depth: Int = 0) throws -> Part {
            guard case .object(let className, _, let state) = value else {
                throw error(.unsupported, "the file does not hold a scikit-learn scaler object")
            }
            if className == PickleWhitelist.pipelineClass {
                return try pipeline(state, depth: depth)
            }
            guard let kind = PickleWhitelist.scalerClasses[className] else {
                throw error(.forbiddenClass, "'\(PickleDecoder.printable(className))' is not a scaler this service can apply")
            }
            guard let state, case .dict = state else { throw error(.malformed, "\(kind) has no state (it was never fitted)") }
            return try scaler(kind, state)
        }

        private mutating func pipeline(_ state: PickleValue?, depth: Int) throws -> Part {
            guard depth < 8 else { throw error(.malformed, "pipelines nested too deeply") }
            guard let steps = state?["steps"]?.items, !steps.isEmpty else { throw error(.malformed, "Pipeline has no steps") }
            var parts: [Part] = []
            for step in steps {
                guard let pair = step.items, pair.count == 2 else { throw error(.malformed, "a Pipeline step is not (name, estimator)") }
                if pair[1].isNone || pair[1] == .string("passthrough") { continue }
                let part = try part(pair[1], depth: depth + 1)
                if let width = part.featureCount, let previous = parts.last(where: { $0.featureCount != nil })?.featureCount,
                    width != previous
                {
                    throw error(.mismatch, "Pipeline step \(part.kind) expects \(width) features but the previous step gives \(previous)")
                }
                parts.append(part)
            }
            guard let first = parts.first(where: { $0.featureCount != nil }) else {
                return Part(kind: "Pipeline()", featureNames: nil, featureCount: nil, baseline: nil)
            }
            return Part(
                kind: "Pipeline(\(parts.map(\.kind).joined(separator: ",")))",
                featureNames: first.featureNames, featureCount: first.featureCount,
                // Only the first step's statistics describe the raw inputs.
                baseline: parts.first?.baseline)
        }

        private mutating func scaler(_ kind: String, _ state: PickleValue) throws -> Part {
            guard let width = state["n_features_in_"]?.intValue, width > 0 else {
                throw error(.malformed, "\(kind) has no n_features_in_ (not fitted, or scikit-learn < 0.24)")
            }
            var names: [String]?
            if let value = state["feature_names_in_"], !value.isNone {
                guard case .ndarray(let array) = value, array.shape == [width], let strings = array.strings else {
                    throw error(.malformed, "\(kind).feature_names_in_ is not \(width) strings")
                }
                names = strings
            }
            func vector(_ key: String) throws -> [Double]? {
                guard let value = state[key], !value.isNone else { return nil }
                guard case .ndarray(let array) = value, array.shape == [width], let doubles = array.doubles else {
                    throw error(.malformed, "\(kind).\(key) is not \(width) numbers")
                }
                return doubles
            }
            func required(_ key: String) throws -> [Double] {
                guard let v = try vector(key) else { throw error(.malformed, "\(kind) has no \(key)") }
                return v
            }
            func flag(_ key: String, default value: Bool) throws -> Bool {
                guard let flag = state[key] else { return value }
                guard let bool = flag.boolValue else { throw error(.malformed, "\(kind).\(key) is not a bool") }
                return bool
            }

            var baseline: (mean: [Double], scale: [Double])?
            switch kind {
            case "StandardScaler":
                let mean = try flag("with_mean", default: true) ? try required("mean_") : nil
                let scale = try flag("with_std", default: true) ? try required("scale_") : nil
                if let mean { add(.subtract, mean) }
                if let scale { add(.divide, scale) }
                if let mean, let scale { baseline = (mean, scale) }
            case "MinMaxScaler":
                add(.multiply, try required("scale_"))
                add(.add, try required("min_"))
                if try flag("clip", default: false) {
                    guard let range = state["feature_range"]?.items, range.count == 2,
                        let low = range[0].doubleValue, let high = range[1].doubleValue
                    else { throw error(.malformed, "MinMaxScaler.feature_range is not (min, max)") }
                    add(.clip, [low, high])
                }
            case "RobustScaler":
                if try flag("with_centering", default: true) { add(.subtract, try required("center_")) }
                if try flag("with_scaling", default: true) { add(.divide, try required("scale_")) }
            case "MaxAbsScaler":
                add(.divide, try required("scale_"))
                if try flag("clip", default: false) { add(.clip, [-1, 1]) }
            default:
                throw error(.forbiddenClass, "'\(kind)' is not a scaler this service can apply")
            }
            return Part(kind: kind, featureNames: names, featureCount: width, baseline: baseline)
        }

        private mutating func add(_ operation: Step.Operation, _ values: [Double]) {
            steps.append(Step(operation: operation, offset: parameters.count))
            parameters.append(contentsOf: values)
        }
    }
}
