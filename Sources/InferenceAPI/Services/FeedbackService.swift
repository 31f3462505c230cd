import Artifacts
import Foundation
import NIOCore
import Storage

/// Observed outcomes of readings: checked, scored with the served model, stored for the tenant;
/// and the served model's performance on that feedback.
struct FeedbackService: Sendable {
    let models: ModelService
    let store: any FeedbackStore
    let threshold: Double
    let maxReadings: Int
    /// During an experiment, the labelled readings are scored by both runs (`GET /models/challenger`).
    var challenger: ChallengerService?
    /// Most recent feedback rows scored by `performance`.
    static let performanceWindow = 100_000

    struct Stored: Sendable {
        let count: Int
        let runId: String
    }

    private struct Outcomes: Decodable {
        let outcomes: [Int]?
    }

    /// Stores `{"readings": [...], "outcomes": [0|1, ...]}` for `tenant`.
    /// - Throws: `ReadingsDecoder.Failure` or `ServiceError` naming the problem; nothing is stored then.
    /// `receipt` makes the stored answer (when the request had an idempotency key), claimed with the rows.
    func record(body: ByteBuffer, tenant: String, receipt: (@Sendable (Stored) -> IdempotencyReceipt)? = nil) async throws -> Stored {
        guard let model = models.active else { throw ServiceError.noModel }
        var decoder = ReadingsDecoder(featureNames: model.featureNames, maxReadings: maxReadings, missingValues: .reject)
        decoder.ignoresOtherTopLevelKeys = true
        let readings = try body.withUnsafeReadableBytes { raw throws(ReadingsDecoder.Failure) in try decoder.decode(raw) }
        let outcomes: [Int]
        do {
            outcomes = try JSONDecoder().decode(Outcomes.self, from: Data(buffer: body)).outcomes ?? []
        } catch {
            throw ServiceError(
                .invalid, code: "validation_failed", "outcomes must be a list of 0 (normal) and 1 (hazardous), one per reading",
                details: [.init(field: "outcomes", problem: "is not a list of whole numbers")])
        }
        guard outcomes.count == readings.count else {
            throw ServiceError(
                .invalid, code: "validation_failed", "give one outcome per reading",
                details: [.init(field: "outcomes", problem: "has \(outcomes.count) entries for \(readings.count) readings")])
        }
        let wrong = outcomes.enumerated().filter { $0.element != 0 && $0.element != 1 }.prefix(ReadingsDecoder.maxDetails)
        guard wrong.isEmpty else {
            throw ServiceError(
                .invalid, code: "validation_failed", "outcomes are 0 (normal) or 1 (hazardous)",
                details: wrong.map { .init(index: $0.offset, field: "outcomes", problem: "is \($0.element)") })
        }
        let probabilities = try await Self.probabilities(model, raw: readings.values, rows: readings.count)
        let features = model.featureNames
        let rows = (0..<readings.count).map { r in
            FeedbackRecord(
                tenantId: tenant, runId: model.runId,
                features: Dictionary(uniqueKeysWithValues: features.enumerated().map { ($1, readings.values[r * features.count + $0]) }),
                outcome: outcomes[r], probability: Double(probabilities[r]), moduleId: readings.moduleIds?[r]?.string)
        }
        let stored = Stored(count: rows.count, runId: model.runId)
        try await store.recordFeedback(rows, receipt: receipt?(stored))
        if let challenger, let (version, challengerModel) = challenger.feedbackChallenger(champion: model) {
            // Stored: both runs are scored on the same outcomes. A challenger that cannot score
            // them leaves the comparison without them (its model step is counted elsewhere).
            if let other = try? await Offload.run(.predict(rows: readings.count), { [values = readings.values, count = readings.count] in
                try values.withUnsafeBufferPointer { try challenger.challengerProbabilities(challengerModel, raw: $0, rows: count) }
            }) {
                challenger.scoreFeedback(version: version, outcomes: outcomes, champion: probabilities, challenger: other)
            }
        }
        return stored
    }

    struct Performance: Sendable {
        let runId: String
        let feedbackRows: Int
        let unusableRows: Int
        let metrics: ClassificationMetrics
    }

    /// The served model scored on the tenant's newest `performanceWindow` feedback rows.
    func performance(tenant: String) async throws -> Performance {
        guard let model = models.active else { throw ServiceError.noModel }
        let rows = try await store.feedback(tenantId: tenant, limit: Self.performanceWindow)
        var raw: [Double] = []
        raw.reserveCapacity(rows.count * model.featureCount)
        var outcomes: [Int] = []
        for row in rows {
            let values = model.featureNames.compactMap { row.features[$0] }
            guard values.count == model.featureCount else { continue }
            raw += values
            outcomes.append(row.outcome)
        }
        let probabilities = try await Self.probabilities(model, raw: raw, rows: outcomes.count)
        return Performance(
            runId: model.runId, feedbackRows: rows.count, unusableRows: rows.count - outcomes.count,
            metrics: ClassificationMetrics(probabilities: probabilities.map(Double.init), outcomes: outcomes, threshold: threshold))
    }

    /// Scored apart from served predictions: no prediction metrics, no drift.
    private static func probabilities(_ model: HazardModel, raw: [Double], rows: Int) async throws -> [Float] {
        guard rows > 0 else { return [] }
        return try await Offload.run(.predict(rows: rows)) {
            try raw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: rows) }
        }
    }
}
