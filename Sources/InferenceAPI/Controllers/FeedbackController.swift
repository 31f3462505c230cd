import AnomalyDetection
import Artifacts
import Foundation
import Hummingbird
import NIOPosix

/// `POST /feedback` (readings with their observed outcome, stored for the caller's tenant) and
/// `GET /models/active/performance` (the served model scored on that feedback).
struct FeedbackController {
    let models: ModelService
    let store: any AnomalyStore
    let threshold: Double
    let maxReadings: Int
    let maxBodyBytes: Int
    /// Most recent feedback rows scored by `/models/active/performance`.
    static let performanceWindow = 100_000

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/feedback", use: feedback)
        router.get("/models/active/performance", use: performance)
    }

    struct Outcomes: Decodable {
        let outcomes: [Int]?
    }

    struct FeedbackAnswer: ResponseEncodable {
        let stored: Int
        let run_id: String
        let tenant: String
    }

    @Sendable func feedback(request: Request, context: AppRequestContext) async throws -> Response {
        try PredictController.requireJSON(request)
        guard let model = models.active else { throw APIError.unavailable("no model is loaded") }
        let body = try await PredictController.collect(request, upTo: maxBodyBytes)
        var decoder = ReadingsDecoder(featureNames: model.featureNames, maxReadings: maxReadings, missingValues: .reject)
        decoder.ignoresOtherTopLevelKeys = true
        let readings: ReadingsDecoder.Readings
        do {
            readings = try body.withUnsafeReadableBytes { raw throws(ReadingsDecoder.Failure) in try decoder.decode(raw) }
        } catch {
            throw PredictController.apiError(error)
        }
        let outcomes: [Int]
        do {
            outcomes = try JSONDecoder().decode(Outcomes.self, from: Data(buffer: body)).outcomes ?? []
        } catch {
            throw APIError.validation(
                "outcomes must be a list of 0 (normal) and 1 (hazardous), one per reading", [.init(field: "outcomes", problem: "is not a list of whole numbers")])
        }
        guard outcomes.count == readings.count else {
            throw APIError.validation(
                "give one outcome per reading", [.init(field: "outcomes", problem: "has \(outcomes.count) entries for \(readings.count) readings")])
        }
        let wrong = outcomes.enumerated().filter { $0.element != 0 && $0.element != 1 }.prefix(ReadingsDecoder.maxDetails)
        guard wrong.isEmpty else {
            throw APIError.validation(
                "outcomes are 0 (normal) or 1 (hazardous)", wrong.map { .init(index: $0.offset, field: "outcomes", problem: "is \($0.element)") })
        }
        let probabilities = try await Self.probabilities(model, raw: readings.values, rows: readings.count)
        let features = model.featureNames
        let tenant = context.tenant
        let rows = (0..<readings.count).map { r in
            FeedbackRecord(
                tenantId: tenant, runId: model.runId,
                features: Dictionary(uniqueKeysWithValues: features.enumerated().map { ($1, readings.values[r * features.count + $0]) }),
                outcome: outcomes[r], probability: Double(probabilities[r]), moduleId: readings.moduleIds?[r])
        }
        try await store.recordFeedback(rows)
        return try FeedbackAnswer(stored: rows.count, run_id: model.runId, tenant: tenant).response(from: request, context: context)
            .withStatus(.created)
    }

    struct PerformanceAnswer: ResponseEncodable {
        let run_id: String
        let tenant: String
        let threshold: Double
        /// Feedback rows scored (the newest `performanceWindow`).
        let feedback_rows: Int
        /// Rows left out because they lack a feature the active model needs.
        let unusable_rows: Int
        let metrics: ClassificationMetrics
    }

    @Sendable func performance(request: Request, context: AppRequestContext) async throws -> PerformanceAnswer {
        guard let model = models.active else { throw APIError.unavailable("no model is loaded") }
        let rows = try await store.feedback(tenantId: context.tenant, limit: Self.performanceWindow)
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
        return PerformanceAnswer(
            run_id: model.runId, tenant: context.tenant, threshold: threshold, feedback_rows: rows.count, unusable_rows: rows.count - outcomes.count,
            metrics: ClassificationMetrics(probabilities: probabilities.map(Double.init), outcomes: outcomes, threshold: threshold))
    }

    /// Scores on the thread pool: feedback batches can be large, and these do not count as served
    /// predictions (no prediction metrics, no drift).
    private static func probabilities(_ model: HazardModel, raw: [Double], rows: Int) async throws -> [Float] {
        guard rows > 0 else { return [] }
        return try await NIOThreadPool.singleton.runIfActive {
            try raw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: rows) }
        }
    }
}
