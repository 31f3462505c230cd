import Artifacts
import Foundation
import Hummingbird

/// The Open Inference Protocol v2 (KServe / Triton / MLServer), so their clients work unchanged.
///
/// Input: one FP32 or FP64 tensor of shape `[n, features]` holding raw (unscaled) readings in the
/// scaler's feature order. Outputs: `hazard_probability` (FP32) and `label` (INT64). Errors use
/// the protocol's `{"error": "<message>"}` body.
struct OpenInferenceController {
    let models: ModelService
    let predictions: PredictionService
    let maxReadings: Int
    let maxBodyBytes: Int

    /// Mounted on `/v2`: the health routes are probes, server metadata is open, models need `predict`.
    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.get("health/live") { _, _ in Live(live: true) }
        group.get("health/ready") { _, _ -> Response in
            models.active == nil ? Self.error(.serviceUnavailable, "no model is loaded") : Self.json(Ready(ready: true))
        }
        group.group().add(middleware: access.open)
            .get { _, _ in ServerMetadata() }
        group.group("models/{name}").add(middleware: access.requires(.predict))
            .get(use: metadata)
            .get("versions/{version}", use: metadata)
            .get("ready", use: ready)
            .get("versions/{version}/ready", use: ready)
            .post("infer", use: infer)
            .post("versions/{version}/infer", use: infer)
    }

    struct ServerMetadata: ResponseCodable {
        var name = "inference-api"
        var version = "1.0.0"
        var extensions: [String] = []
    }
    struct Live: ResponseCodable { let live: Bool }
    struct Ready: ResponseCodable { let ready: Bool }
    struct ModelReady: ResponseCodable {
        let name: String
        let ready: Bool
    }
    struct TensorMetadata: Codable {
        let name: String
        let datatype: String
        let shape: [Int]
    }
    struct ModelMetadata: ResponseCodable {
        let name: String
        let versions: [String]
        let platform: String
        let inputs: [TensorMetadata]
        let outputs: [TensorMetadata]
        let parameters: [String: [String]]
    }

    /// The names this model answers to: its registered-model name, its experiment name, and
    /// `battery-hazard`. The version is the run id.
    static func names(of model: HazardModel) -> Set<String> {
        var names: Set<String> = ["battery-hazard", model.location.run.experimentName]
        if let registry = model.location.registry { names.insert(registry.name) }
        return names
    }

    static func publicName(of model: HazardModel) -> String {
        model.location.registry?.name ?? "battery-hazard"
    }

    /// The active model if `{name}` (and `{version}`, when given) name it; else a protocol error.
    private func resolve(_ context: AppRequestContext) -> Result<HazardModel, OIPError> {
        guard let model = models.active else { return .failure(OIPError(.serviceUnavailable, "no model is loaded")) }
        let name = context.parameters.get("name") ?? ""
        guard Self.names(of: model).contains(name) else {
            return .failure(OIPError(.notFound, "unknown model '\(MLflowStore.printable(name))'; this server serves '\(Self.publicName(of: model))'"))
        }
        if let version = context.parameters.get("version"), version != model.runId {
            return .failure(OIPError(.notFound, "version '\(MLflowStore.printable(version))' is not served; the served version is \(model.runId)"))
        }
        return .success(model)
    }

    @Sendable func metadata(request: Request, context: AppRequestContext) async throws -> Response {
        switch resolve(context) {
        case .failure(let error): return Self.error(error.status, error.message)
        case .success(let model):
            return Self.json(
                ModelMetadata(
                    name: Self.publicName(of: model), versions: [model.runId], platform: "xgboost",
                    inputs: [TensorMetadata(name: "input-0", datatype: "FP32", shape: [-1, model.featureCount])],
                    outputs: [
                        TensorMetadata(name: "hazard_probability", datatype: "FP32", shape: [-1]),
                        TensorMetadata(name: "label", datatype: "INT64", shape: [-1]),
                    ],
                    parameters: ["feature_names": model.featureNames]))
        }
    }

    @Sendable func ready(request: Request, context: AppRequestContext) async throws -> Response {
        switch resolve(context) {
        case .failure(let error): return Self.error(error.status, error.message)
        case .success(let model): return Self.json(ModelReady(name: Self.publicName(of: model), ready: true))
        }
    }

    @Sendable func infer(request: Request, context: AppRequestContext) async throws -> Response {
        let model: HazardModel
        switch resolve(context) {
        case .failure(let error): return Self.error(error.status, error.message)
        case .success(let m): model = m
        }
        let body: ByteBuffer
        do { body = try await request.jsonBody(upTo: maxBodyBytes) } catch let refusal as APIError {
            // The protocol's own error body, not the envelope.
            return Self.error(refusal.status, refusal.message)
        }
        if let key = body.withUnsafeReadableBytes({ JSONLexer.firstDuplicateKey(in: $0) }) {
            return Self.error(.badRequest, APIError.duplicateKey(key).message)
        }
        let parsed: (id: String?, rows: Int, values: [Double])
        switch Self.parseInfer(Data(buffer: body), featureCount: model.featureCount, maxRows: maxReadings) {
        case .failure(let error): return Self.error(error.status, error.message)
        case .success(let value): parsed = value
        }
        let outcome = try await predictions.predict(model: model, raw: parsed.values, rows: parsed.rows)
        var json = JSONWriter(capacity: 256 + parsed.rows * 24)
        json.raw("{\"model_name\":")
        json.string(Self.publicName(of: model))
        json.raw(",\"model_version\":")
        // A request is routed as a whole (its rows carry no module id): in canary mode, the run that scored it.
        json.string(parsed.rows > 0 ? outcome.runId(at: 0) : model.runId)
        if let id = parsed.id {
            json.raw(",\"id\":")
            json.string(id)
        }
        json.raw(",\"outputs\":[{\"name\":\"hazard_probability\",\"datatype\":\"FP32\",\"shape\":[")
        json.int(parsed.rows)
        json.raw("],\"data\":[")
        for (i, p) in outcome.probabilities.enumerated() {
            if i > 0 { json.raw(",") }
            json.float(p)
        }
        json.raw("]},{\"name\":\"label\",\"datatype\":\"INT64\",\"shape\":[")
        json.int(parsed.rows)
        json.raw("],\"data\":[")
        for (i, p) in outcome.probabilities.enumerated() {
            if i > 0 { json.raw(",") }
            json.raw(Double(p) >= outcome.threshold ? "1" : "0")
        }
        json.raw("]}]}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json.buffer))
    }

    struct OIPError: Error {
        let status: HTTPResponse.Status
        let message: String
        init(_ status: HTTPResponse.Status, _ message: String) {
            self.status = status
            self.message = message
        }
    }

    struct InferRequest: Decodable {
        struct Input: Decodable {
            let name: String?
            let shape: [Int]
            let datatype: String
            let data: Tensor
        }
        let id: String?
        let inputs: [Input]
    }

    /// Tensor data, flat or nested lists of numbers (booleans and strings do not decode as numbers).
    indirect enum Tensor: Decodable {
        case number(Double)
        case list([Tensor])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else {
                self = .list(try container.decode([Tensor].self))
            }
        }

        func flatten(into values: inout [Double], depth: Int = 0) -> String? {
            switch self {
            case .number(let v):
                guard v.isFinite else { return "input data must be finite numbers" }
                values.append(v)
            case .list(let items):
                guard depth < 2 else { return "input data is nested too deeply for shape [n, features]" }
                for item in items {
                    if let problem = item.flatten(into: &values, depth: depth + 1) { return problem }
                }
            }
            return nil
        }
    }

    /// Validates an inference request: one input tensor, FP32/FP64, shape `[n, features]`,
    /// `n * features` finite numbers (flat or nested, row-major).
    static func parseInfer(_ data: Data, featureCount: Int, maxRows: Int) -> Result<(id: String?, rows: Int, values: [Double]), OIPError> {
        let request: InferRequest
        do {
            request = try JSONDecoder().decode(InferRequest.self, from: data)
        } catch {
            return .failure(OIPError(.badRequest, "the body must be {\"inputs\": [{\"name\", \"shape\": [n, \(featureCount)], \"datatype\": \"FP32\", \"data\": [...]}]} with numeric data"))
        }
        guard request.inputs.count == 1, let input = request.inputs.first else {
            return .failure(OIPError(.badRequest, "'inputs' must hold exactly one tensor of shape [n, \(featureCount)]"))
        }
        guard input.datatype == "FP32" || input.datatype == "FP64" else {
            return .failure(OIPError(.badRequest, "input datatype must be FP32 or FP64, got \(MLflowStore.printable(input.datatype))"))
        }
        guard input.shape.count == 2, input.shape[1] == featureCount else {
            return .failure(OIPError(.badRequest, "input shape \(input.shape) does not match [n, \(featureCount)]"))
        }
        let rows = input.shape[0]
        guard rows >= 1 else { return .failure(OIPError(.badRequest, "input shape must have at least one row")) }
        guard rows <= maxRows else {
            return .failure(OIPError(.contentTooLarge, "at most \(maxRows) rows per request (MAX_READINGS_PER_REQUEST)"))
        }
        var values: [Double] = []
        values.reserveCapacity(rows * featureCount)
        if let problem = input.data.flatten(into: &values) { return .failure(OIPError(.badRequest, problem)) }
        guard values.count == rows * featureCount else {
            return .failure(OIPError(.badRequest, "input data has \(values.count) values; shape [\(rows), \(featureCount)] needs \(rows * featureCount)"))
        }
        if input.datatype == "FP32" {
            for k in values.indices { values[k] = Double(Float(values[k])) }
        }
        return .success((request.id, rows, values))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? JSONEncoder.api.encode(["error": message])) ?? Data("{\"error\":\"error\"}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func json(_ value: some Encodable) -> Response {
        let body = (try? JSONEncoder.api.encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
