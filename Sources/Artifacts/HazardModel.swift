import ComputeSupport
import Dispatch
import Foundation
import Logging
import Synchronization

/// The served battery-hazard model: booster + scaler + feature order + run metadata, loaded and
/// checked as one unit. This is the one type the HTTP layer uses.
///
/// Immutable once loaded, so it can be shared by every request and swapped atomically as a whole.
public final class HazardModel: Sendable {
    /// One reading's answer.
    public struct Prediction: Sendable, Equatable {
        public let probability: Float
        /// 1 when `probability >= threshold` (Hazardous), else 0 (Normal).
        public let label: Int
    }

    public let location: ModelLocation
    public let booster: Booster
    public let scaler: Scaler
    /// Feature names in the order the scaler and booster expect (the scaler's `feature_names_in_`).
    public let featureNames: [String]
    /// Name -> column index.
    public let featureIndex: [String: Int]
    public let loadedAt: Date
    /// Seconds spent loading and checking.
    public let loadSeconds: Double
    /// The checks that passed at load, for `/models/active`.
    public let checks: [String]
    /// Which code serves `probabilities` and `explain`, and why (for `/models/active` and logs).
    public let predictor: PredictorKind
    public let predictorReason: String
    /// The compiled forest serving `probabilities`: present only when `predictor` is `.compiled`,
    /// i.e. after it equalled the C API bit for bit at load (benchmarks call it directly).
    public let forest: CompiledForest?
    let shap: TreeSHAP?

    public var featureCount: Int { featureNames.count }
    public var runId: String { location.run.id }

    /// Rows per call below which one thread predicts; larger batches are split across cores.
    public static let parallelThreshold = 512
    /// Predictions running now, across models (see `evaluate`).
    private static let inFlight = Atomic<Int>(0)

    /// Resolves `reference` in `store` and loads it.
    public static func load(
        from store: MLflowStore, reference: String, predictor: PredictorChoice = .auto,
        logger: Logger = HazardModel.defaultLogger
    ) throws -> HazardModel {
        try HazardModel(location: store.resolve(reference), predictor: predictor, logger: logger)
    }

    public static let defaultLogger = Logger(label: "hazard-model")

    /// Loads the booster and scaler a location names and checks that they fit together, then
    /// chooses the predictor (see `PredictorChoice`); a compiled forest that differs from the
    /// C API is logged on `logger` and not used.
    /// - Throws: `ArtifactError` naming the first part that is missing, unsafe or inconsistent,
    ///   or, with `predictor: .compiled`, why the compiled forest cannot serve.
    public convenience init(location: ModelLocation, predictor: PredictorChoice = .auto, logger: Logger = HazardModel.defaultLogger) throws {
        try self.init(location: location, predictor: predictor, logger: logger, editDump: nil)
    }

    init(location: ModelLocation, predictor choice: PredictorChoice, logger: Logger, editDump: ((inout ForestDump) -> Void)?) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        guard let scalerFile = location.scalerFile else {
            throw ArtifactError(
                .notFound,
                "run \(location.run.id) has no scaler artifact (scaler.joblib logged with mlflow.log_artifact)",
                path: location.run.artifactsDirectory?.path)
        }
        let booster = try Booster(contentsOf: location.boosterFile)
        let scaler = try Scaler.load(contentsOf: scalerFile)
        var checks = ["booster loaded (\(booster.file.format.rawValue), \(booster.boostedRounds) trees)", "scaler decoded (\(scaler.kind))"]

        let names: [String]
        if let fromScaler = scaler.featureNames {
            names = fromScaler
        } else if let columns = location.mlmodel.signatureInputs, columns.allSatisfy({ $0.name != nil }) {
            names = columns.compactMap(\.name)
        } else {
            throw ArtifactError(
                .mismatch,
                "feature names are unknown: the scaler has no feature_names_in_ (fit it on a DataFrame) and the MLmodel signature names no columns",
                path: scalerFile.path)
        }
        guard Set(names).count == names.count else {
            throw ArtifactError(.mismatch, "feature names are not unique", path: scalerFile.path)
        }
        guard scaler.featureCount == names.count else {
            throw ArtifactError(.mismatch, "the scaler has \(scaler.featureCount) features but names \(names.count)", path: scalerFile.path)
        }
        guard booster.featureCount == scaler.featureCount else {
            throw ArtifactError(
                .mismatch,
                "the booster expects \(booster.featureCount) features but the scaler produces \(scaler.featureCount)",
                path: location.boosterFile.path)
        }
        checks.append("feature count \(names.count) matches booster and scaler")
        if let columns = location.mlmodel.signatureInputs {
            guard columns.count == names.count else {
                throw ArtifactError(
                    .mismatch, "the MLmodel signature has \(columns.count) inputs but the scaler has \(names.count) features",
                    path: location.modelDirectory.path)
            }
            let signatureNames = columns.compactMap(\.name)
            if signatureNames.count == columns.count, Set(signatureNames) == Set(names) {
                checks.append("signature names match the scaler's features")
            } else {
                checks.append("signature has \(columns.count) inputs")
            }
        }
        if booster.baseScoreCorrected {
            checks.append("base_score \(booster.baseScore) restored from the model file (libxgboost \(XGBoostLibrary.versionString) ignored it)")
        }

        let predictor = try Self.choosePredictor(choice, booster: booster, logger: logger, editDump: editDump)
        checks.append("predictor \(predictor.kind.rawValue): \(predictor.reason)")
        self.predictor = predictor.kind
        self.predictorReason = predictor.reason
        self.forest = predictor.forest
        self.shap = predictor.shap
        self.location = location
        self.booster = booster
        self.scaler = scaler
        self.featureNames = names
        self.featureIndex = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })

        // A prediction on the scaler's centre must give one finite probability.
        let probe = [Double](repeating: 0, count: names.count)
        let serve = Self.predictFunction(predictor.forest, booster)
        let probability = try probe.withUnsafeBufferPointer { try Self.evaluate(scaler, raw: $0, rows: 1, serve) }
        guard probability.count == 1, probability[0].isFinite, (0...1).contains(probability[0]) else {
            throw ArtifactError(.unsupported, "a probe prediction gave \(probability), not one probability", path: location.boosterFile.path)
        }
        checks.append("probe prediction is a probability")
        self.checks = checks
        self.loadedAt = Date()
        self.loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// Hazard probabilities for `rows` raw (unscaled) readings, row-major in `featureNames` order.
    /// Large batches run on both cores; this call blocks, so callers keep it off event loops.
    public func probabilities(raw: UnsafeBufferPointer<Double>, rows: Int) throws -> [Float] {
        guard raw.count == rows * featureCount else {
            throw ArtifactError(.mismatch, "expected \(rows) x \(featureCount) values, got \(raw.count)")
        }
        return try Self.evaluate(scaler, raw: raw, rows: rows, Self.predictFunction(forest, booster))
    }

    private static func predictFunction(
        _ forest: CompiledForest?, _ booster: Booster
    ) -> @Sendable (UnsafeBufferPointer<Float>, Int) throws -> [Float] {
        if let forest { return { try forest.probabilities($0, rows: $1) } }
        return { try booster.predict($0, rows: $1) }
    }

    /// Probabilities and labels for raw readings.
    public func predict(raw: UnsafeBufferPointer<Double>, rows: Int, threshold: Double = 0.5) throws -> [Prediction] {
        try probabilities(raw: raw, rows: rows).map {
            Prediction(probability: $0, label: Double($0) >= threshold ? 1 : 0)
        }
    }

    /// Convenience for callers holding dictionaries (the CLI, tests): every feature must be present.
    public func predict(readings: [[String: Double]], threshold: Double = 0.5) throws -> [Prediction] {
        try rawRows(readings).withUnsafeBufferPointer { try predict(raw: $0, rows: readings.count, threshold: threshold) }
    }

    /// Dictionaries to row-major raw values in `featureNames` order.
    func rawRows(_ readings: [[String: Double]]) throws -> [Double] {
        var raw = [Double](repeating: 0, count: readings.count * featureCount)
        for (row, reading) in readings.enumerated() {
            for (column, name) in featureNames.enumerated() {
                guard let value = reading[name] else {
                    throw ArtifactError(.mismatch, "reading \(row) has no '\(name)'")
                }
                raw[row * featureCount + column] = value
            }
        }
        return raw
    }

    private static func evaluate(
        _ scaler: Scaler, raw: UnsafeBufferPointer<Double>, rows: Int,
        _ predict: @Sendable (UnsafeBufferPointer<Float>, Int) throws -> [Float]
    ) throws -> [Float] {
        let width = scaler.featureCount
        var scaled = [Float](repeating: 0, count: rows * width)
        // Split a big batch across both cores only when no other prediction is running: under
        // concurrent load every core is busy already, and the split only adds thread hand-offs.
        let running = inFlight.add(1, ordering: .relaxed).newValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        let chunks = rows >= parallelThreshold && running == 1 ? 2 : 1
        if chunks == 1 {
            return try scaled.withUnsafeMutableBufferPointer { out in
                scaler.transform(rows: raw, count: rows, into: out)
                return try predict(UnsafeBufferPointer(out), rows)
            }
        }
        // Split the batch: each half is scaled and predicted on its own thread (nthread = 1 each).
        return try scaled.withUnsafeMutableBufferPointer { out in
            let output = SharedPointer(out.baseAddress!), input = SharedPointer(raw.baseAddress!)
            return try ParallelChunks.map(count: rows, chunks: chunks) { range in
                let n = range.count
                let scaledRows = UnsafeMutableBufferPointer(start: output.base + range.lowerBound * width, count: n * width)
                scaler.transform(rows: UnsafeBufferPointer(start: input.base + range.lowerBound * width, count: n * width), count: n, into: scaledRows)
                return try predict(UnsafeBufferPointer(scaledRows), n)
            }.flatMap { $0 }
        }
    }
}
