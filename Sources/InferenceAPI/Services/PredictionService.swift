import Artifacts
import NIOPosix

/// Runs hazard predictions on the active model, off the calling task's thread for big batches.
struct PredictionService: Sendable {
    let models: ModelService
    let threshold: Double
    var telemetry: Telemetry?
    var drift: DriftMonitor?

    /// Rows at or above which prediction moves to NIO's blocking thread pool, so neither event
    /// loops nor the cooperative task pool are held by XGBoost.
    static let offloadRows = 64

    struct Outcome: Sendable {
        let model: HazardModel
        let probabilities: [Float]
        let threshold: Double
    }

    /// Predicts `rows` raw readings on `model` (the caller took it once, so a swap mid-request
    /// cannot change which model answers); big batches on NIO's blocking thread pool.
    func predict(model: HazardModel, raw: [Double], rows: Int) async throws -> Outcome {
        if rows >= Self.offloadRows {
            return try await NIOThreadPool.singleton.runIfActive { try predictNow(model: model, raw: raw, rows: rows) }
        }
        return try predictNow(model: model, raw: raw, rows: rows)
    }

    /// `predict` on the calling thread: for callers already off the event loops and the task pool.
    func predictNow(model: HazardModel, raw: [Double], rows: Int) throws -> Outcome {
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
