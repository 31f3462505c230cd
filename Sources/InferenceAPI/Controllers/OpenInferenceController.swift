import Artifacts
import Foundation
import Hummingbird

/// The Open Inference Protocol v2 (KServe / Triton / MLServer), so their clients work unchanged.
///
/// Input: one FP32, FP64 or INT64 tensor of shape `[n, features]` holding raw (unscaled) readings
/// in the scaler's feature order, as JSON or as binary data (Triton's binary tensor extension).
/// Outputs: `hazard_probability` (FP32) and `label` (INT64), as JSON or binary when asked. Errors
/// use the protocol's `{"error": "<message>"}` body.
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
        var extensions = ["binary_tensor_data"]
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
        Self.resolve(models.active, name: context.parameters.get("name") ?? "", version: context.parameters.get("version"))
    }

    /// `active` if `name` (and `version`, when given and not empty) name it; else a protocol error.
    static func resolve(_ active: HazardModel?, name: String, version: String?) -> Result<HazardModel, OIPError> {
        guard let model = active else { return .failure(OIPError(.serviceUnavailable, "no model is loaded")) }
        guard names(of: model).contains(name) else {
            return .failure(OIPError(.notFound, "unknown model '\(MLflowStore.printable(name))'; this server serves '\(publicName(of: model))'"))
        }
        if let version, !version.isEmpty, version != model.runId {
            return .failure(OIPError(.notFound, "version '\(MLflowStore.printable(version))' is not served; the served version is \(model.runId)"))
        }
        return .success(model)
    }

    @Sendable func metadata(request: Request, context: AppRequestContext) async throws -> Response {
        switch resolve(context) {
        case .failure(let error): return Self.error(error.status, error.message)
        case .success(let model): return Self.json(Self.metadata(of: model))
        }
    }

    static func metadata(of model: HazardModel) -> ModelMetadata {
        ModelMetadata(
            name: publicName(of: model), versions: [model.runId], platform: "xgboost",
            inputs: [TensorMetadata(name: "input-0", datatype: "FP32", shape: [-1, model.featureCount])],
            outputs: [
                TensorMetadata(name: "hazard_probability", datatype: "FP32", shape: [-1]),
                TensorMetadata(name: "label", datatype: "INT64", shape: [-1]),
            ],
            parameters: ["feature_names": model.featureNames])
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
        let headerLength: Int?
        do {
            headerLength = try Self.inferenceHeaderLength(request.headers)
            // Triton's Python client sends its JSON without a Content-Type; with binary tensors the
            // body is JSON then bytes, typically application/octet-stream.
            body = try await request.body(
                upTo: maxBodyBytes,
                accepting: { $0.isEmpty || Request.isJSON($0) || (headerLength != nil && $0 == "application/octet-stream") },
                expected: headerLength == nil ? "application/json" : "application/json or application/octet-stream")
        } catch let refusal as APIError {
            // The protocol's own error body, not the envelope.
            return Self.error(refusal.status, refusal.message)
        } catch let refusal as OIPError {
            return Self.error(refusal.status, refusal.message)
        }
        let jsonLength = headerLength ?? body.readableBytes
        guard jsonLength <= body.readableBytes else {
            return Self.error(.badRequest, "Inference-Header-Content-Length (\(jsonLength)) is larger than the body (\(body.readableBytes) bytes)")
        }
        let header = body.getSlice(at: body.readerIndex, length: jsonLength) ?? ByteBuffer()
        let tensors = body.getSlice(at: body.readerIndex + jsonLength, length: body.readableBytes - jsonLength) ?? ByteBuffer()
        if let key = header.withUnsafeReadableBytes({ JSONLexer.firstDuplicateKey(in: $0) }) {
            return Self.error(.badRequest, APIError.duplicateKey(key).message)
        }
        let parsed: ParsedInfer
        switch Self.parseInfer(header, binary: tensors, featureCount: model.featureCount, maxRows: maxReadings) {
        case .failure(let error): return Self.error(error.status, error.message)
        case .success(let value): parsed = value
        }
        let outcome = try await predictions.predict(model: model, raw: parsed.values, rows: parsed.rows)
        // A request is routed as a whole (its rows carry no module id): in canary mode, the run that scored it.
        let version = parsed.rows > 0 ? outcome.runId(at: 0) : model.runId
        return Self.inferResponse(
            model: Self.publicName(of: model), version: version, id: parsed.id, outputs: parsed.outputs,
            probabilities: outcome.probabilities, threshold: outcome.threshold)
    }

    struct OIPError: Error {
        let status: HTTPResponse.Status
        let message: String
        init(_ status: HTTPResponse.Status, _ message: String) {
            self.status = status
            self.message = message
        }
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
