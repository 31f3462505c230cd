import Artifacts
import Dispatch
import Foundation
import GRPCCore
import Logging

/// The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`, KServe's
/// `grpc_predict_v2.proto`): the same model, numbers and swaps as the `/v2` HTTP routes (an
/// activation or a canary applies here too: both ask `ModelService` and `PredictionService`), the
/// same credentials (`authorization: Bearer <token or key>` or `x-api-key` metadata), scopes and
/// rate limits. Liveness, readiness and server metadata are open, as over HTTP; the model calls
/// need `predict`. Errors are gRPC status codes with the HTTP side's messages.
struct InferenceGRPCService: Inference_GRPCInferenceService.ServiceProtocol {
    let models: ModelService
    let predictions: PredictionService
    let calls: GRPCCalls
    let maxReadings: Int

    func serverLive(
        request: ServerRequest<Inference_ServerLiveRequest>, context: ServerContext
    ) async throws -> ServerResponse<Inference_ServerLiveResponse> {
        try await calls.handle("ServerLive", request.metadata, context, access: nil) { _ in
            Inference_ServerLiveResponse.with { $0.live = true }
        }
    }

    func serverReady(
        request: ServerRequest<Inference_ServerReadyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Inference_ServerReadyResponse> {
        try await calls.handle("ServerReady", request.metadata, context, access: nil) { _ in
            Inference_ServerReadyResponse.with { $0.ready = models.active != nil }
        }
    }

    func modelReady(
        request: ServerRequest<Inference_ModelReadyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Inference_ModelReadyResponse> {
        try await calls.handle("ModelReady", request.metadata, context, access: .scope(.predict)) { _ in
            _ = try resolve(request.message.name, request.message.version)
            return Inference_ModelReadyResponse.with { $0.ready = true }
        }
    }

    func serverMetadata(
        request: ServerRequest<Inference_ServerMetadataRequest>, context: ServerContext
    ) async throws -> ServerResponse<Inference_ServerMetadataResponse> {
        try await calls.handle("ServerMetadata", request.metadata, context, access: .open) { _ in
            let metadata = OpenInferenceController.ServerMetadata()
            return Inference_ServerMetadataResponse.with {
                $0.name = metadata.name
                $0.version = metadata.version
                $0.extensions = metadata.extensions
            }
        }
    }

    func modelMetadata(
        request: ServerRequest<Inference_ModelMetadataRequest>, context: ServerContext
    ) async throws -> ServerResponse<Inference_ModelMetadataResponse> {
        try await calls.handle("ModelMetadata", request.metadata, context, access: .scope(.predict)) { _ in
            let metadata = OpenInferenceController.metadata(of: try resolve(request.message.name, request.message.version))
            func tensor(_ t: OpenInferenceController.TensorMetadata) -> Inference_ModelMetadataResponse.TensorMetadata {
                .with {
                    $0.name = t.name
                    $0.datatype = t.datatype
                    $0.shape = t.shape.map(Int64.init)
                }
            }
            return Inference_ModelMetadataResponse.with {
                $0.name = metadata.name
                $0.versions = metadata.versions
                $0.platform = metadata.platform
                $0.inputs = metadata.inputs.map(tensor)
                $0.outputs = metadata.outputs.map(tensor)
            }
        }
    }

    func modelInfer(
        request: ServerRequest<Inference_ModelInferRequest>, context: ServerContext
    ) async throws -> ServerResponse<Inference_ModelInferResponse> {
        try await calls.handle("ModelInfer", request.metadata, context, access: .scope(.predict)) { _ in
            let message = request.message
            let model = try resolve(message.modelName, message.modelVersion)
            let (rows, values) = try Self.values(of: message, featureCount: model.featureCount, maxRows: maxReadings)
            let outputs = try Self.outputs(of: message)
            let outcome = try await predictions.predict(model: model, raw: values, rows: rows)
            // Raw outputs when the inputs came raw (the protocol: then every output is raw).
            let raw = !message.rawInputContents.isEmpty
            let labels = outcome.probabilities.map { Int64(Double($0) >= outcome.threshold ? 1 : 0) }
            var response = Inference_ModelInferResponse()
            response.modelName = OpenInferenceController.publicName(of: model)
            response.modelVersion = outcome.runId(at: 0)
            response.id = message.id
            for name in outputs {
                var tensor = Inference_ModelInferResponse.InferOutputTensor()
                tensor.name = name
                tensor.shape = [Int64(rows)]
                let probability = name == "hazard_probability"
                tensor.datatype = probability ? "FP32" : "INT64"
                if raw {
                    var bytes = Data(capacity: rows * (probability ? 4 : 8))
                    if probability {
                        for p in outcome.probabilities { withUnsafeBytes(of: p.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
                    } else {
                        for label in labels { withUnsafeBytes(of: label.littleEndian) { bytes.append(contentsOf: $0) } }
                    }
                    response.rawOutputContents.append(bytes)
                } else if probability {
                    tensor.contents.fp32Contents = outcome.probabilities
                } else {
                    tensor.contents.int64Contents = labels
                }
                response.outputs.append(tensor)
            }
            return response
        }
    }

    private func resolve(_ name: String, _ version: String) throws -> HazardModel {
        switch OpenInferenceController.resolve(models.active, name: name, version: version) {
        case .success(let model): return model
        case .failure(let error): throw GRPCCalls.rpcError(error)
        }
    }

    /// The one input's values, from typed `contents` (fp32, fp64 or int64) or from
    /// `raw_input_contents` (little-endian, row-major), checked as the HTTP route checks them.
    static func values(of message: Inference_ModelInferRequest, featureCount: Int, maxRows: Int) throws -> (rows: Int, values: [Double]) {
        guard message.inputs.count == 1, let input = message.inputs.first else {
            throw RPCError(code: .invalidArgument, message: "'inputs' must hold exactly one tensor of shape [n, \(featureCount)]")
        }
        let shape = input.shape.map { Int(clamping: $0) }
        let rows: Int, width: Int
        switch OpenInferenceController.inputRows(datatype: input.datatype, shape: shape, featureCount: featureCount, maxRows: maxRows) {
        case .failure(let error): throw GRPCCalls.rpcError(error)
        case .success(let checked): (rows, width) = checked
        }
        let count = rows * featureCount
        var values: [Double] = []
        values.reserveCapacity(count)
        if !message.rawInputContents.isEmpty {
            guard message.rawInputContents.count == 1, !input.hasContents else {
                throw RPCError(code: .invalidArgument, message: "raw_input_contents must hold one entry per input, and the input no contents")
            }
            let raw = message.rawInputContents[0]
            guard raw.count == count * width else {
                throw RPCError(code: .invalidArgument, message: "raw_input_contents holds \(raw.count) bytes; shape [\(rows), \(featureCount)] of \(input.datatype) needs \(count * width)")
            }
            let problem = raw.withUnsafeBytes { OpenInferenceController.readBinary($0, datatype: input.datatype, count: count, into: &values) }
            if let problem {
                throw RPCError(code: .invalidArgument, message: problem)
            }
            return (rows, values)
        }
        let contents = input.contents
        switch input.datatype {
        case "FP32": values = contents.fp32Contents.map(Double.init)
        case "FP64": values = contents.fp64Contents
        default: values = contents.int64Contents.map(Double.init)
        }
        guard values.count == count else {
            throw RPCError(
                code: .invalidArgument,
                message: "input contents hold \(values.count) \(input.datatype) values; shape [\(rows), \(featureCount)] needs \(count)")
        }
        guard values.allSatisfy(\.isFinite) else { throw RPCError(code: .invalidArgument, message: "input data must be finite numbers") }
        return (rows, values)
    }

    /// The outputs asked for, in order (every output when none are named).
    static func outputs(of message: Inference_ModelInferRequest) throws -> [String] {
        var names: [String] = []
        for output in message.outputs where !names.contains(output.name) {
            guard OpenInferenceController.outputNames.contains(output.name) else {
                throw RPCError(
                    code: .invalidArgument,
                    message: "unknown output '\(MLflowStore.printable(output.name))'; this model gives \(OpenInferenceController.outputNames.joined(separator: ", "))")
            }
            names.append(output.name)
        }
        return names.isEmpty ? OpenInferenceController.outputNames : names
    }
}
