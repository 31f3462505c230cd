import CXGBoost
import Foundation

/// An XGBoost booster loaded through libxgboost's C API, ready to predict hazard probabilities.
///
/// Ownership rule: this class owns exactly one `BoosterHandle`, created in `init` and freed in
/// `deinit`; no other type sees the handle. The handle is never mutated after `init` returns
/// (parameters are set before the booster is published), so concurrent predictions are safe:
/// libxgboost's in-place prediction keeps its output buffer per calling thread, and every call
/// here copies that buffer out before returning. `testConcurrentPredictionsAreIdentical` proves it.
///
/// This is the only file that touches `CXGBoost` pointers.
public final class Booster: @unchecked Sendable {
    private let handle: BoosterHandle

    /// Number of features the booster was trained on.
    public let featureCount: Int
    /// Boosting rounds (trees for a binary objective).
    public let boostedRounds: Int
    /// The objective, e.g. `binary:logistic`.
    public let objective: String
    /// What the saved model file said about itself (format, version, base_score).
    public let file: BoosterFile
    /// The base_score libxgboost used after loading, and whether this loader had to correct it.
    public let baseScore: Double
    public let baseScoreCorrected: Bool

    /// Loads a booster from a model file in any format xgboost writes (JSON, UBJSON, legacy binary).
    ///
    /// - Parameter correctBaseScore: restore the `base_score` that libxgboost 1.7 ignores in files
    ///   saved by xgboost >= 2.0. Only tests turn this off, to show the trap.
    /// - Throws: `ArtifactError` when the file cannot be read, libxgboost refuses it, or the model
    ///   is one this service cannot evaluate correctly (not a binary classifier, multi-target trees,
    ///   categorical splits).
    public convenience init(contentsOf url: URL, correctBaseScore: Bool = true) throws {
        let bytes: [UInt8]
        do {
            bytes = try [UInt8](Data(contentsOf: url))
        } catch {
            throw ArtifactError(.notFound, "cannot read booster file: \(error.localizedDescription)", path: url.path)
        }
        try self.init(bytes: bytes, path: url.path, correctBaseScore: correctBaseScore)
    }

    public init(bytes: [UInt8], path: String? = nil, correctBaseScore: Bool = true) throws {
        let file = try BoosterFile(bytes: bytes, path: path)
        var loadBytes = bytes
        if let rewritten = file.bytesLoadableBy17 { loadBytes = rewritten }

        var h: BoosterHandle?
        try Self.check(XGBoosterCreate(nil, 0, &h), "XGBoosterCreate", path: path)
        guard let h else { throw ArtifactError(.xgboost, "XGBoosterCreate returned no handle", path: path) }
        // From here on `h` must be freed on every failure path.
        do {
            try loadBytes.withUnsafeBytes { raw in
                try Self.check(
                    XGBoosterLoadModelFromBuffer(h, raw.baseAddress, bst_ulong(raw.count)),
                    "loading the model", path: path)
            }
            // One thread per call: large batches are split across cores by the caller instead,
            // and small ones must not pay for an OpenMP pool.
            try Self.check(XGBoosterSetParam(h, "nthread", "1"), "setting nthread", path: path)

            var config = try Self.config(h, path: path)
            let saved = file.learnerModelParam["base_score"].flatMap(BoosterFile.parseBaseScore)
            var corrected = false
            if correctBaseScore, let saved, let used = config.baseScore, !Self.sameFloat(saved, used) {
                let text = String(format: "%.9g", saved)
                try Self.check(XGBoosterSetParam(h, "base_score", text), "restoring base_score", path: path)
                config = try Self.config(h, path: path)
                guard let now = config.baseScore, Self.sameFloat(now, saved) else {
                    throw ArtifactError(
                        .unsupported,
                        "base_score \(saved) from the model file could not be restored in libxgboost \(XGBoostLibrary.versionString)",
                        path: path)
                }
                corrected = true
            }

            var features: bst_ulong = 0
            try Self.check(XGBoosterGetNumFeature(h, &features), "reading the feature count", path: path)
            var rounds: Int32 = 0
            try Self.check(XGBoosterBoostedRounds(h, &rounds), "reading the boosted rounds", path: path)

            guard config.objective == "binary:logistic" else {
                throw ArtifactError(
                    .unsupported,
                    "objective \(config.objective.isEmpty ? "(none)" : config.objective) is not served: the hazard model must be a binary:logistic classifier",
                    path: path)
            }
            if config.numClass > 1 {
                throw ArtifactError(.unsupported, "multi-class models (num_class \(config.numClass)) are not served", path: path)
            }
            if let targets = file.learnerModelParam["num_target"].flatMap(Int.init), targets > 1 {
                throw ArtifactError(
                    .unsupported,
                    "multi-target models (num_target \(targets)) cannot be evaluated by libxgboost \(XGBoostLibrary.versionString)",
                    path: path)
            }
            if let types = try Self.featureTypes(h, path: path), let index = types.firstIndex(of: "c") {
                throw ArtifactError(
                    .unsupported,
                    "feature \(index) is categorical: categorical splits are not served (scaled sensor readings are numeric)",
                    path: path)
            }

            self.handle = h
            self.featureCount = Int(features)
            self.boostedRounds = Int(rounds)
            self.objective = config.objective
            self.file = file
            self.baseScore = config.baseScore ?? .nan
            self.baseScoreCorrected = corrected
        } catch {
            XGBoosterFree(h)
            throw error
        }
    }

    deinit {
        XGBoosterFree(handle)
    }

    /// Predicts probabilities for `rows` rows of `featureCount` float32 values, row-major,
    /// already scaled. Uses `XGBoosterPredictFromDense` (in-place prediction, no DMatrix).
    ///
    /// Thread safety: may be called concurrently from any number of threads.
    /// - Throws: `ArtifactError(.mismatch)` if the buffer is not `rows * featureCount` long,
    ///   `.xgboost` if libxgboost reports an error.
    public func predict(_ values: UnsafeBufferPointer<Float>, rows: Int) throws -> [Float] {
        try predictInPlace(values, rows: rows, config: Self.predictConfig)
    }

    /// Margins (log-odds, before the sigmoid) for the same input as `predict(_:rows:)`: the
    /// compiled forest is checked against these bit for bit at load.
    public func margins(_ values: UnsafeBufferPointer<Float>, rows: Int) throws -> [Float] {
        try predictInPlace(values, rows: rows, config: Self.marginConfig)
    }

    private func predictInPlace(_ values: UnsafeBufferPointer<Float>, rows: Int, config: String) throws -> [Float] {
        guard rows >= 0, values.count == rows * featureCount else {
            throw ArtifactError(.mismatch, "expected \(rows) x \(featureCount) values, got \(values.count)")
        }
        if rows == 0 { return [] }
        guard let base = values.baseAddress else { return [] }
        let address = UInt(bitPattern: base)
        let interface = "{\"data\":[\(address),true],\"shape\":[\(rows),\(featureCount)],\"typestr\":\"<f4\",\"version\":3}"
        var shape: UnsafePointer<bst_ulong>?
        var dims: bst_ulong = 0
        var result: UnsafePointer<Float>?
        try Self.check(
            XGBoosterPredictFromDense(handle, interface, config, nil, &shape, &dims, &result),
            "XGBoosterPredictFromDense", path: nil)
        return try Self.copyResult(result, shape: shape, dims: dims, rows: rows)
    }

    /// The same prediction through a temporary DMatrix (`XGDMatrixCreateFromMat` +
    /// `XGBoosterPredictFromDMatrix`). Kept to compare entry points in benchmarks and tests;
    /// `predict(_:rows:)` is the serving path.
    public func predictViaDMatrix(_ values: UnsafeBufferPointer<Float>, rows: Int) throws -> [Float] {
        try predictViaDMatrix(values, rows: rows, config: Self.predictConfig, valuesPerRow: 1)
    }

    /// Exact path-dependent TreeSHAP contributions from libxgboost (`pred_contribs`, not the
    /// approximation): `featureCount + 1` log-odds values per row, row-major, the last one the
    /// bias; each row sums to its margin. The oracle for `TreeSHAP`; slow (a DMatrix per call).
    /// - Throws: `.xgboost` for values libxgboost refuses in a DMatrix (±inf).
    public func contributions(_ values: UnsafeBufferPointer<Float>, rows: Int) throws -> [Float] {
        try predictViaDMatrix(values, rows: rows, config: Self.contributionsConfig, valuesPerRow: featureCount + 1)
    }

    /// The loaded model as libxgboost's own JSON (`XGBoosterSaveModelToBuffer`), with every
    /// correction made at load applied: what `CompiledForest` is built from.
    public func modelJSON() throws -> [UInt8] {
        var length: bst_ulong = 0
        var bytes: UnsafePointer<CChar>?
        try Self.check(
            XGBoosterSaveModelToBuffer(handle, "{\"format\":\"json\"}", &length, &bytes), "saving the model as JSON", path: nil)
        guard let bytes else { throw ArtifactError(.xgboost, "libxgboost returned no model JSON") }
        return bytes.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { Array(UnsafeBufferPointer(start: $0, count: Int(length))) }
    }

    private func predictViaDMatrix(
        _ values: UnsafeBufferPointer<Float>, rows: Int, config: String, valuesPerRow: Int
    ) throws -> [Float] {
        guard rows > 0, values.count == rows * featureCount, let base = values.baseAddress else {
            throw ArtifactError(.mismatch, "expected \(rows) x \(featureCount) values, got \(values.count)")
        }
        var matrix: DMatrixHandle?
        try Self.check(
            XGDMatrixCreateFromMat(base, bst_ulong(rows), bst_ulong(featureCount), .nan, &matrix),
            "XGDMatrixCreateFromMat", path: nil)
        defer { XGDMatrixFree(matrix) }
        var shape: UnsafePointer<bst_ulong>?
        var dims: bst_ulong = 0
        var result: UnsafePointer<Float>?
        try Self.check(
            XGBoosterPredictFromDMatrix(handle, matrix, config, &shape, &dims, &result),
            "XGBoosterPredictFromDMatrix", path: nil)
        return try Self.copyResult(result, shape: shape, dims: dims, rows: rows * valuesPerRow)
    }

    // MARK: - C API plumbing

    /// type 0: transformed prediction (probabilities for binary:logistic); missing = NaN as in Python.
    private static let predictConfig = predictionConfig(type: 0)
    /// type 1: margin; type 2: exact contributions (`approx_contribs` false).
    private static let marginConfig = predictionConfig(type: 1)
    private static let contributionsConfig = predictionConfig(type: 2)

    private static func predictionConfig(type: Int) -> String {
        "{\"type\":\(type),\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,\"strict_shape\":false,\"missing\":NaN,\"cache_id\":0}"
    }

    private static func copyResult(
        _ result: UnsafePointer<Float>?, shape: UnsafePointer<bst_ulong>?, dims: bst_ulong, rows expected: Int
    ) throws -> [Float] {
        guard let result, let shape, dims >= 1 else {
            throw ArtifactError(.xgboost, "libxgboost returned no prediction")
        }
        var total = 1
        for d in 0..<Int(dims) { total *= Int(shape[d]) }
        guard total == expected else {
            throw ArtifactError(.unsupported, "libxgboost returned \(total) values where \(expected) were expected")
        }
        return Array(UnsafeBufferPointer(start: result, count: total))
    }

    static func check(_ code: Int32, _ what: String, path: String?) throws {
        guard code != 0 else { return }
        let detail = XGBGetLastError().map { String(cString: $0) } ?? "unknown error"
        throw ArtifactError(.xgboost, "libxgboost \(XGBoostLibrary.versionString) failed \(what): \(Self.firstLine(detail))", path: path)
    }

    private static func firstLine(_ text: String) -> String {
        // libxgboost errors carry a stack trace after the first lines; keep the message.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        return lines.first { !$0.contains("Stack trace") && !$0.hasPrefix("  [bt]") }.map(String.init) ?? text
    }

    private struct LearnerConfig {
        var objective: String
        var baseScore: Double?
        var numClass: Int
    }

    private static func config(_ h: BoosterHandle, path: String?) throws -> LearnerConfig {
        var length: bst_ulong = 0
        var text: UnsafePointer<CChar>?
        try check(XGBoosterSaveJsonConfig(h, &length, &text), "reading the learner configuration", path: path)
        guard let text else { throw ArtifactError(.xgboost, "libxgboost returned no configuration", path: path) }
        let data = Data(bytes: text, count: Int(length))
        guard
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let learner = root["learner"] as? [String: Any]
        else {
            throw ArtifactError(.xgboost, "libxgboost returned an unreadable configuration", path: path)
        }
        let objective = (learner["objective"] as? [String: Any])?["name"] as? String ?? ""
        let param = learner["learner_model_param"] as? [String: Any] ?? [:]
        let base = (param["base_score"] as? String).flatMap(BoosterFile.parseBaseScore)
        let numClass = (param["num_class"] as? String).flatMap(Int.init) ?? 0
        return LearnerConfig(objective: objective, baseScore: base, numClass: numClass)
    }

    private static func featureTypes(_ h: BoosterHandle, path: String?) throws -> [String]? {
        var count: bst_ulong = 0
        var strings: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        try check(XGBoosterGetStrFeatureInfo(h, "feature_type", &count, &strings), "reading feature types", path: path)
        guard count > 0, let strings else { return nil }
        return (0..<Int(count)).map { strings[$0].map { String(cString: $0) } ?? "" }
    }

    /// base_score is a float32 inside libxgboost; compare at that precision.
    private static func sameFloat(_ a: Double, _ b: Double) -> Bool {
        Float(a) == Float(b)
    }
}
