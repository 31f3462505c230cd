import Artifacts
import Foundation
import Hummingbird
import NIOPosix

/// `POST /predict`: batches of battery readings in, per-reading hazard labels out.
struct PredictController {
    let models: ModelService
    let predictions: PredictionService
    let maxReadings: Int
    let maxBodyBytes: Int
    let missingValues: ReadingsDecoder.MissingValues
    /// The decoder for the last model seen: building one (name tables, hash slots) per request
    /// cost as much as decoding a one-reading body.
    private let decoders = PerModelCache<ReadingsDecoder>()

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/predict", use: predict)
    }

    @Sendable func predict(request: Request, context: AppRequestContext) async throws -> Response {
        try Self.requireJSON(request)
        guard let model = models.active else { throw APIError.unavailable("no model is loaded") }
        let body = try await Self.collect(request, upTo: maxBodyBytes)
        let decoder = decoders.value(for: model) {
            ReadingsDecoder(featureNames: model.featureNames, maxReadings: maxReadings, missingValues: missingValues)
        }
        let predictions = self.predictions
        @Sendable func decode() throws -> ReadingsDecoder.Readings {
            do {
                return try body.withUnsafeReadableBytes { raw throws(ReadingsDecoder.Failure) in try decoder.decode(raw) }
            } catch {
                throw Self.apiError(error)
            }
        }
        // A big body is decoded, predicted and written in one trip to NIO's blocking pool: the
        // event loop (or task pool) stays free, and the request makes one hop, not two.
        if body.readableBytes >= Self.offloadBytes {
            return try await NIOThreadPool.singleton.runIfActive {
                let readings = try decode()
                let outcome = try predictions.predictNow(model: model, raw: readings.values, rows: readings.count)
                return Self.response(outcome, readings: readings)
            }
        }
        let readings = try decode()
        let outcome = try await predictions.predict(model: model, raw: readings.values, rows: readings.count)
        return Self.response(outcome, readings: readings)
    }

    /// About 64 readings (`PredictionService.offloadRows`) of ~800 bytes each.
    static let offloadBytes = 48 * 1024

    // MARK: - Shared by the JSON endpoints

    static func requireJSON(_ request: Request) throws {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "send the body as application/json (got \(type.isEmpty ? "no Content-Type" : "'\(type)'"))")
        }
    }

    static func collect(_ request: Request, upTo limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "the request body is larger than \(limit) bytes (MAX_BODY_BYTES)")
        }
    }

    static func apiError(_ failure: ReadingsDecoder.Failure) -> APIError {
        switch failure {
        case .syntax(let message):
            APIError(.badRequest, code: "invalid_json", message: message)
        case .invalid(let message, let details):
            APIError.validation(message, details)
        case .tooMany(let limit):
            APIError(
                .contentTooLarge, code: "too_many_readings",
                message: "at most \(limit) readings per request (MAX_READINGS_PER_REQUEST); split the batch")
        }
    }

    // MARK: - The answer

    static func response(_ outcome: PredictionService.Outcome, readings: ReadingsDecoder.Readings) -> Response {
        let model = outcome.model
        var json = JSONWriter(capacity: 256 + readings.count * 96)
        json.raw("{\"model\":")
        ModelInfo.writeSummary(model, into: &json)
        json.raw(",\"predictions\":[")
        var hazardous = 0
        var maxProbability: Float = 0
        for (index, probability) in outcome.probabilities.enumerated() {
            let label = Double(probability) >= outcome.threshold ? 1 : 0
            hazardous += label
            maxProbability = max(maxProbability, probability)
            if index > 0 { json.raw(",") }
            json.raw("{\"index\":")
            json.int(index)
            if let module = readings.moduleIds?[index] {
                json.raw(",\"module_id\":")
                json.string(module)
            }
            if let timestamp = readings.timestamps?[index] {
                json.raw(",\"timestamp\":")
                json.string(timestamp)
            }
            json.raw(label == 1 ? ",\"prediction\":1,\"label\":\"Hazardous\",\"hazard_probability\":" : ",\"prediction\":0,\"label\":\"Normal\",\"hazard_probability\":")
            json.float(probability)
            json.raw("}")
        }
        json.raw("],\"summary\":{\"count\":")
        json.int(outcome.probabilities.count)
        json.raw(",\"hazardous\":")
        json.int(hazardous)
        json.raw(",\"normal\":")
        json.int(outcome.probabilities.count - hazardous)
        json.raw(",\"max_hazard_probability\":")
        json.float(maxProbability)
        json.raw(",\"threshold\":")
        json.double(outcome.threshold)
        json.raw("}}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json.buffer))
    }
}
