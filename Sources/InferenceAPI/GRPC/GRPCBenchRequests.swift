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

    /// Reads an Open Inference REST JSON body (`inputs` with name, shape, datatype FP32/FP64 and
    /// flat or nested `data`; `outputs` names) as the same `ModelInferRequest`: typed `contents`,
    /// or `raw_input_contents` (little-endian, as numpy clients send) when `raw`.
    static func request(json: Data, model: String, raw: Bool) throws -> Inference_ModelInferRequest {
        guard let body = try JSONSerialization.jsonObject(with: json) as? [String: Any],
              let inputs = body["inputs"] as? [[String: Any]], !inputs.isEmpty
        else { throw Failure.badBody("the body has no `inputs`") }
        func flat(_ value: Any) -> [Double] {
            if let array = value as? [Any] { return array.flatMap(flat) }
            return [(value as? NSNumber)?.doubleValue ?? .nan]
        }
        var request = Inference_ModelInferRequest()
        request.modelName = model
        for input in inputs {
            guard let name = input["name"] as? String, let shape = input["shape"] as? [Int],
                  let datatype = input["datatype"] as? String, let data = input["data"]
            else { throw Failure.badBody("an input lacks name, shape, datatype or data") }
            let values = flat(data)
            var tensor = Inference_ModelInferRequest.InferInputTensor()
            tensor.name = name
            tensor.datatype = datatype
            tensor.shape = shape.map(Int64.init)
            switch (datatype, raw) {
            case ("FP32", false): tensor.contents.fp32Contents = values.map(Float.init)
            case ("FP64", false): tensor.contents.fp64Contents = values
            case ("FP32", true):
                request.rawInputContents.append(values.map { Float($0).bitPattern.littleEndian }.withUnsafeBytes { Data($0) })
            case ("FP64", true):
                request.rawInputContents.append(values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) })
            default: throw Failure.badBody("datatype \(datatype) is not FP32 or FP64")
            }
            request.inputs.append(tensor)
        }
        for output in body["outputs"] as? [[String: Any]] ?? [] {
            guard let name = output["name"] as? String else { continue }
            var requested = Inference_ModelInferRequest.InferRequestedOutputTensor()
            requested.name = name
            request.outputs.append(requested)
        }
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
