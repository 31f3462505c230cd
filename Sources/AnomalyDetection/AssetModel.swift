import Foundation

/// What an asset's detectors learn at training: its daily profile, a forest on the residuals,
/// and how each detector's raw statistic is distributed over the asset's own history, so
/// every detector reports on one scale (`CalibratedScore`).
public struct AssetCalibration: Codable, Sendable, Equatable {
    public let profile: DailyProfile
    /// The forest's anomaly score.
    public let forest: TailFit
    /// Per metric, |z| of one sample: spikes.
    public let residual: [TailFit]
    /// Per metric, |median of the last `levelSpan` z|: a level that moved and stays moved.
    public let level: [TailFit]
    /// Per metric, the chance that a sample repeats the previous value exactly.
    public let repeatChance: [Double]
    /// With `contamination`, the score at which that fraction of the training samples is flagged.
    public let contaminationThreshold: Double?

    /// Samples the level statistic takes its median over: a spike (one sample) cannot move it,
    /// a shift moves it one sample after onset.
    public static let levelSpan = 3
}

/// An asset's trained model: the Isolation Forest and, for models trained since calibration
/// existed, the calibration (nil for older artifacts, which score as they always did).
public struct AssetModel: Sendable {
    public let metrics: [String]
    public let window: FeatureWindow
    public let forest: IsolationForest
    public let calibration: AssetCalibration?
    /// The calibrated scores of the training samples right after `fit`; empty when read back.
    public let trainingScores: [Double]

    public init(metrics: [String], window: FeatureWindow, forest: IsolationForest, calibration: AssetCalibration?, trainingScores: [Double] = []) {
        self.metrics = metrics
        self.window = window
        self.forest = forest
        self.calibration = calibration
        self.trainingScores = trainingScores
    }

    /// Fits on `values` (rows in `metrics` order, oldest first, finite) sampled at `times`.
    /// The history may hold anomalies: every estimate is a median or reads only the body.
    public static func fit(
        _ values: [[Double]], times: [Date], metrics: [String], window: Int, parameters: IsolationForest.Parameters
    ) throws -> AssetModel {
        guard values.count == times.count else { throw IsolationForest.FitError(description: "one time per sample is needed") }
        let profile = DailyProfile.fit(values, times: times)
        let z = profile.residuals(values, times: times)
        let features = FeatureWindow(metrics: metrics, window: window)
        let rows = features.rows(history: [], samples: z)
        let forest = try IsolationForest.fit(rows, rows: values.count, featureCount: features.featureCount, parameters: parameters)
        let forestScores = forest.anomalyScores(rows, rows: values.count)
        var calibration = AssetCalibration(
            profile: profile, forest: TailFit(forestScores),
            residual: metrics.indices.map { m in TailFit(z.map { abs($0[m]) }) },
            level: metrics.indices.map { m in TailFit(levelStatistics(z.map { $0[m] }).map(abs)) },
            repeatChance: metrics.indices.map { m in repeatChance(values.map { $0[m] }) },
            contaminationThreshold: nil)
        let draft = AssetModel(metrics: metrics, window: features, forest: forest, calibration: calibration)
        let scores = AssetDetector(model: draft, threshold: 1).score(history: [], samples: values, sampleTimes: times).map(\.score)
        if let c = parameters.contamination {
            let threshold = StatisticalDetectors.quantile(scores.sorted(), 1 - c)
            calibration = AssetCalibration(
                profile: calibration.profile, forest: calibration.forest, residual: calibration.residual, level: calibration.level,
                repeatChance: calibration.repeatChance, contaminationThreshold: threshold)
        }
        return AssetModel(metrics: metrics, window: features, forest: forest, calibration: calibration, trainingScores: scores)
    }

    /// The threshold to flag at: the configured one, or with `contamination` the fitted one.
    public func threshold(contamination: Double?, default threshold: Double) -> Double {
        guard contamination != nil else { return threshold }
        return calibration?.contaminationThreshold ?? forest.scoreThreshold
    }

    /// The median of each run of `levelSpan` residuals ending at each sample (shorter at the start).
    static func levelStatistics(_ z: [Double]) -> [Double] {
        z.indices.map { i in median(z[max(0, i - AssetCalibration.levelSpan + 1)...i]) }
    }

    static func median(_ values: ArraySlice<Double>) -> Double {
        let present = values.filter { !$0.isNaN }.sorted()
        guard !present.isEmpty else { return .nan }
        return StatisticalDetectors.quantile(present, 0.5)
    }

    /// Repeats over consecutive pairs, with one pseudo-count each way so that a history with no
    /// repeat still leaves a repeat possible (and a long stuck run very unlikely).
    static func repeatChance(_ column: [Double]) -> Double {
        var repeats = 0
        for i in column.indices.dropFirst() where AssetDetector.same(column[i - 1], column[i]) { repeats += 1 }
        return (Double(repeats) + 1) / Double(max(0, column.count - 1) + 2)
    }
}
