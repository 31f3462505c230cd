import Artifacts
import NIOCore

/// Hazard predictions on the active model: `/predict` bodies decoded and predicted, and raw rows
/// for the Open Inference routes. Where the work runs follows `Offload`.
struct PredictionService: Sendable {
    let models: ModelService
    let threshold: Double
    let maxReadings: Int
    let missingValues: ReadingsDecoder.MissingValues
    var telemetry: Telemetry?
    var drift: DriftMonitor?
    /// The decoder for the last model seen: building one (name tables, hash slots) per request
    /// cost as much as decoding a one-reading body.
    private let decoders = PerModelCache<ReadingsDecoder>()

    init(
        models: ModelService, threshold: Double, maxReadings: Int, missingValues: ReadingsDecoder.MissingValues, telemetry: Telemetry? = nil,
        drift: DriftMonitor? = nil
    ) {
        self.models = models
        self.threshold = threshold
        self.maxReadings = maxReadings
        self.missingValues = missingValues
        self.telemetry = telemetry
        self.drift = drift
    }

    struct Outcome: Sendable {
        let model: HazardModel
        let probabilities: [Float]
        let threshold: Double
        /// Per reading, when the body asked (`"explain"`): TreeSHAP contributions in log-odds.
        var explanations: [Explanation]?
    }

    /// A `/predict` body's readings, predicted, turned into the caller's answer by `answer`. A body
    /// big enough to leave the event loop is decoded, predicted and answered in one trip to the
    /// pool, not two (writing a 100-reading answer on the loop cost 5 % of the throughput).
    /// - Throws: `ReadingsDecoder.Failure` for a body that breaks the contract, `ServiceError`.
    func predict<Answer: Sendable>(
        body: ByteBuffer, answer: @escaping @Sendable (Outcome, ReadingsDecoder.Readings) -> Answer
    ) async throws -> Answer {
        guard let model = models.active else { throw ServiceError.noModel }
        let decoder = decoders.value(for: model) {
            ReadingsDecoder(featureNames: model.featureNames, maxReadings: maxReadings, missingValues: missingValues)
        }
        @Sendable func decode() throws -> ReadingsDecoder.Readings {
            try body.withUnsafeReadableBytes { raw throws(ReadingsDecoder.Failure) in try decoder.decode(raw) }
        }
        @Sendable func explained(_ outcome: Outcome, _ readings: ReadingsDecoder.Readings) throws -> Outcome {
            guard let top = readings.explainTop else { return outcome }
            var outcome = outcome
            outcome.explanations = try readings.values.withUnsafeBufferPointer { try model.explain(raw: $0, rows: readings.count, top: top) }
            return outcome
        }
        if Offload.leavesEventLoop(.predictBody(bytes: body.readableBytes)) {
            return try await Offload.run(.blocking) {
                let readings = try decode()
                return answer(try explained(try predictNow(model: model, raw: readings.values, rows: readings.count), readings), readings)
            }
        }
        let readings = try decode()
        let outcome = try await predict(model: model, raw: readings.values, rows: readings.count)
        guard readings.explainTop != nil else { return answer(outcome, readings) }
        return try await Offload.run(.explain(rows: readings.count)) { answer(try explained(outcome, readings), readings) }
    }

    /// Predicts `rows` raw readings on `model` (the caller took it once, so a swap mid-request
    /// cannot change which model answers).
    func predict(model: HazardModel, raw: [Double], rows: Int) async throws -> Outcome {
        try await Offload.run(.predict(rows: rows)) { try predictNow(model: model, raw: raw, rows: rows) }
    }

    /// `predict` on the calling thread, counted in metrics, traffic and drift.
    private func predictNow(model: HazardModel, raw: [Double], rows: Int) throws -> Outcome {
        let probabilities: [Float]
        do {
            probabilities = try raw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: rows) }
        } catch {
            models.recordFailure()
            throw error
        }
        var hazardous = 0
        for p in probabilities where Double(p) >= threshold { hazardous += 1 }
        models.record(readings: rows, hazardous: hazardous)
        telemetry?.predictions(probabilities, threshold: threshold)
        if let drift { raw.withUnsafeBufferPointer { drift.observe(model: model, raw: $0, rows: rows) } }
        return Outcome(model: model, probabilities: probabilities, threshold: threshold)
    }
}
