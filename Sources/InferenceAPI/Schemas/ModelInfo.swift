import Artifacts
import ComputeSupport
import Foundation
import NIOCore
import Storage

/// How the serving model is described in answers.
enum ModelInfo {
    static func timestamp(_ date: Date) -> String {
        ISO8601.format(date)
    }

    /// The last model's summary, rendered once: it heads every `/predict` answer, and formatting
    /// its date per request cost more than a one-reading prediction.
    private static let summaries = PerModelCache<ByteBuffer>()

    /// `{"run_id", "run_name", "experiment", "model_uri", "model_format", "loaded_at"}`.
    static func writeSummary(_ model: HazardModel, into json: inout JSONWriter) {
        let rendered = summaries.value(for: model) {
            var writer = JSONWriter(capacity: 256)
            render(model, into: &writer)
            return writer.buffer
        }
        json.buffer.writeImmutableBuffer(rendered)
    }

    private static func render(_ model: HazardModel, into json: inout JSONWriter) {
        json.raw("{\"run_id\":")
        json.string(model.runId)
        json.raw(",\"run_name\":")
        json.optionalString(model.location.run.name)
        json.raw(",\"experiment\":")
        json.string(model.location.run.experimentName)
        json.raw(",\"model_uri\":")
        json.string(model.location.uri)
        json.raw(",\"model_format\":")
        json.string(model.booster.file.format.rawValue)
        json.raw(",\"loaded_at\":")
        json.string(timestamp(model.loadedAt))
        json.raw("}")
    }
}
