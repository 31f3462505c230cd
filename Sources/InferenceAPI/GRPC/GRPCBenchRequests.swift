import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf

/// `ModelInfer` requests for `make bench` (`inference-api bench-grpc`). The bench drives gRPC with
/// h2load (nghttp2's HTTP/2 load generator, a Debian package), which posts a fixed body: this
/// writes that body, the request framed as on the wire, from the REST JSON body the REST rows
/// send, and makes one real call to check the server answers it (h2load sees HTTP statuses, not
/// gRPC's). Here rather than in the executable because the generated messages are internal to
/// this module. (A Swift load generator on grpc-swift's client was tried first: the client spent
/// about as much CPU per call as the server, so on a 2-core machine it measured itself.)
public enum GRPCBenchRequests {
    public enum Failure: Error, CustomStringConvertible {
        case badBody(String)
        public var description: String {
            switch self {
            case .badBody(let why): "bench-grpc: \(why)"
            }
        }
    }

    /// Reads an Open Inference REST JSON body with the service's own reader
    /// (`InferRequest(json:)`) as the same `ModelInferRequest`: typed `contents`, or
    /// `raw_input_contents` (little-endian, as numpy clients send) when `raw`.
    static func request(json: Data, model: String, raw: Bool) throws -> Inference_ModelInferRequest {
        let body: OpenInferenceController.InferRequest
        do {
            body = try json.withUnsafeBytes { (bytes) throws(JSONSyntaxError) in try OpenInferenceController.InferRequest(json: bytes) }
        } catch {
            throw Failure.badBody("not an Open Inference request body: \((error as? JSONSyntaxError)?.message ?? "\(error)")")
        }
        var request = Inference_ModelInferRequest()
        request.modelName = model
        for input in body.inputs {
            guard let data = input.data, data.problem == nil else { throw Failure.badBody("an input lacks finite JSON data") }
            let values = data.values
            var tensor = Inference_ModelInferRequest.InferInputTensor()
            tensor.name = input.name ?? "input-\(request.inputs.count)"
            tensor.datatype = input.datatype
            tensor.shape = input.shape.map(Int64.init)
            switch (input.datatype, raw) {
            case ("FP32", false): tensor.contents.fp32Contents = values.map(Float.init)
            case ("FP64", false): tensor.contents.fp64Contents = values
            case ("FP32", true):
                request.rawInputContents.append(values.map { Float($0).bitPattern.littleEndian }.withUnsafeBytes { Data($0) })
            case ("FP64", true):
                request.rawInputContents.append(values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) })
            default: throw Failure.badBody("datatype \(input.datatype) is not FP32 or FP64")
            }
            request.inputs.append(tensor)
        }
        request.outputs = (body.outputs ?? []).map { output in .with { $0.name = output.name } }
        return request
    }

    /// The request as it travels in an HTTP/2 DATA frame (gRPC's 5-byte prefix: not compressed, the
    /// length big-endian, then the protobuf bytes): a body file for a generic HTTP/2 load tool.
    public static func framedRequest(json: Data, model: String, raw: Bool) throws -> Data {
        let bytes: Data = try request(json: json, model: model, raw: raw).serializedBytes()
        var framed = Data([0])
        withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { framed.append(contentsOf: $0) }
        framed.append(bytes)
        return framed
    }

    /// One call: the size of the answer as framed on the wire (5 + protobuf bytes), or the error.
    public static func probe(host: String, port: Int, model: String, body: Data, raw: Bool) async throws -> Int {
        let message = try request(json: body, model: model, raw: raw)
        return try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: host, port: port), transportSecurity: .plaintext)) { client in
            let answer = try await Inference_GRPCInferenceService.Client(wrapping: client).modelInfer(message)
            let bytes: Data = try answer.serializedBytes()
            return bytes.count + 5
        }
    }
}
