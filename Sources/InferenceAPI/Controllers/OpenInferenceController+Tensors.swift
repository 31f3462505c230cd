import Artifacts
import Foundation
import HTTPTypes
import Hummingbird

/// An inference request's tensors, in JSON or in the binary tensor extension (Triton's
/// `extension_binary_data`): the JSON object, then each binary tensor's bytes in the order of the
/// JSON's tensors, little-endian, row-major; `Inference-Header-Content-Length` gives the JSON's
/// length. Read and written here by hand: the protocol's parameters decide per tensor which form
/// it takes, which no general decoder knows.
extension OpenInferenceController {
    static let inferenceHeaderContentLength = HTTPField.Name("Inference-Header-Content-Length")!

    /// The length of the JSON part when the body carries binary tensors; nil when it is all JSON.
    static func inferenceHeaderLength(_ headers: HTTPFields) throws -> Int? {
        guard let value = headers[inferenceHeaderContentLength] else { return nil }
        guard let length = Int(value.trimmingCharacters(in: .whitespaces)), length > 0 else {
            throw OIPError(.badRequest, "Inference-Header-Content-Length must be a positive whole number of bytes, got '\(MLflowStore.printable(value))'")
        }
        return length
    }

    /// The protocol's parameters this service reads (others are ignored, as the protocol allows).
    struct Parameters {
        var binaryDataSize: Int?
        var binaryData: Bool?
        var binaryDataOutput: Bool?
    }

    /// An inference request's JSON (read by `InferRequest(json:)`, OpenInferenceController+JSON).
    struct InferRequest {
        struct Input {
            let name: String?
            let shape: [Int]
            let datatype: String
            let data: TensorData?
            let parameters: Parameters?
        }
        struct Output {
            let name: String
            let parameters: Parameters?
        }
        let id: String?
        let inputs: [Input]
        let outputs: [Output]?
        let parameters: Parameters?
    }

    /// An input's JSON data flattened row-major, and the first problem with it (nested deeper
    /// than `[n, features]`, a number that is not finite), named after the JSON parsed.
    struct TensorData {
        var values: [Double] = []
        var problem: String?
    }

    /// The outputs this model gives, in the order they are answered when none are named.
    static let outputNames = ["hazard_probability", "label"]

    struct ParsedInfer {
        let id: String?
        let rows: Int
        let values: [Double]
        /// The outputs to answer, each as binary data or JSON.
        let outputs: [(name: String, binary: Bool)]
    }

    /// Bytes per element of the datatypes an input may take.
    static func width(_ datatype: String) -> Int? {
        switch datatype {
        case "FP32": 4
        case "FP64", "INT64": 8
        default: nil
        }
    }

    /// The rows of an input tensor and the bytes of one element: the checks HTTP and gRPC share
    /// (a datatype this model reads, shape `[n, features]`, at most `maxRows` rows).
    static func inputRows(datatype: String, shape: [Int], featureCount: Int, maxRows: Int) -> Result<(rows: Int, width: Int), OIPError> {
        guard let width = width(datatype) else {
            return .failure(OIPError(.badRequest, "input datatype must be FP32, FP64 or INT64, got \(MLflowStore.printable(datatype))"))
        }
        guard shape.count == 2, shape[1] == featureCount else {
            return .failure(OIPError(.badRequest, "input shape \(shape) does not match [n, \(featureCount)]"))
        }
        let rows = shape[0]
        guard rows >= 1 else { return .failure(OIPError(.badRequest, "input shape must have at least one row")) }
        guard rows <= maxRows else {
            return .failure(OIPError(.contentTooLarge, "at most \(maxRows) rows per request (MAX_READINGS_PER_REQUEST)"))
        }
        return .success((rows, width))
    }

    /// Validates an inference request: one input tensor, FP32, FP64 or INT64, shape
    /// `[n, features]`, `n * features` finite numbers (JSON flat or nested, row-major, or
    /// `binary_data_size` bytes of `binary`), and the outputs asked for.
    static func parseInfer(_ header: ByteBuffer, binary: ByteBuffer = ByteBuffer(), featureCount: Int, maxRows: Int) -> Result<ParsedInfer, OIPError> {
        let request: InferRequest
        do {
            request = try header.withUnsafeReadableBytes { (bytes) throws(JSONSyntaxError) in try InferRequest(json: bytes) }
        } catch {
            return .failure(OIPError(.badRequest, "the body must be {\"inputs\": [{\"name\", \"shape\": [n, \(featureCount)], \"datatype\": \"FP32\", \"data\": [...]}]} with numeric data (or binary data after it, with Inference-Header-Content-Length)"))
        }
        guard request.inputs.count == 1, let input = request.inputs.first else {
            return .failure(OIPError(.badRequest, "'inputs' must hold exactly one tensor of shape [n, \(featureCount)]"))
        }
        let rows: Int, width: Int
        switch inputRows(datatype: input.datatype, shape: input.shape, featureCount: featureCount, maxRows: maxRows) {
        case .failure(let error): return .failure(error)
        case .success(let checked): (rows, width) = checked
        }
        let count = rows * featureCount
        var values: [Double] = []
        if let size = input.parameters?.binaryDataSize {
            guard input.data == nil else { return .failure(OIPError(.badRequest, "input '\(MLflowStore.printable(input.name ?? ""))' has both data and binary_data_size")) }
            guard size == count * width else {
                return .failure(OIPError(.badRequest, "binary_data_size is \(size) bytes; shape [\(rows), \(featureCount)] of \(input.datatype) needs \(count * width)"))
            }
            guard size == binary.readableBytes else {
                return .failure(OIPError(.badRequest, "the body holds \(binary.readableBytes) bytes of binary data after its JSON; the inputs declare \(size)"))
            }
            values.reserveCapacity(count)
            let problem = binary.withUnsafeReadableBytes { readBinary($0, datatype: input.datatype, count: count, into: &values) }
            if let problem { return .failure(OIPError(.badRequest, problem)) }
        } else {
            guard binary.readableBytes == 0 else {
                return .failure(OIPError(.badRequest, "the body holds \(binary.readableBytes) bytes after its JSON that no input declares (binary_data_size)"))
            }
            guard let tensor = input.data else { return .failure(OIPError(.badRequest, "input has neither data nor binary_data_size")) }
            if let problem = tensor.problem { return .failure(OIPError(.badRequest, problem)) }
            values = tensor.values
            guard values.count == count else {
                return .failure(OIPError(.badRequest, "input data has \(values.count) values; shape [\(rows), \(featureCount)] needs \(count)"))
            }
            switch input.datatype {
            case "FP32":
                for k in values.indices {
                    let value = Float(values[k])
                    // Past FP32's range a finite JSON number becomes infinite (found by `make fuzz`).
                    guard value.isFinite else { return .failure(OIPError(.badRequest, "FP32 input data must be finite FP32 numbers (element \(k) is beyond ±3.4e38)")) }
                    values[k] = Double(value)
                }
            case "INT64":
                guard values.allSatisfy({ $0 == $0.rounded() && abs($0) < 9.2e18 }) else {
                    return .failure(OIPError(.badRequest, "INT64 input data must be whole numbers"))
                }
            default: break
            }
        }
        let binaryByDefault = request.parameters?.binaryDataOutput ?? false
        var outputs: [(name: String, binary: Bool)] = []
        if let asked = request.outputs {
            for output in asked {
                guard outputNames.contains(output.name) else {
                    return .failure(OIPError(.badRequest, "unknown output '\(MLflowStore.printable(output.name))'; this model gives \(outputNames.joined(separator: ", "))"))
                }
                guard !outputs.contains(where: { $0.name == output.name }) else { continue }
                outputs.append((output.name, output.parameters?.binaryData ?? binaryByDefault))
            }
        }
        if outputs.isEmpty { outputs = outputNames.map { ($0, binaryByDefault) } }
        return .success(ParsedInfer(id: request.id, rows: rows, values: values, outputs: outputs))
    }

    /// Reads `count` little-endian elements of `datatype` from `bytes` (an HTTP body's binary part,
    /// a gRPC raw input: read where they lie); a problem when one is not finite.
    static func readBinary(_ bytes: UnsafeRawBufferPointer, datatype: String, count: Int, into values: inout [Double]) -> String? {
        for k in 0..<count {
            let value: Double
            switch datatype {
            case "FP32": value = Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self))))
            case "FP64": value = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)))
            default: value = Double(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self)))
            }
            guard value.isFinite else { return "input data must be finite numbers (element \(k) is not)" }
            values.append(value)
        }
        return nil
    }

    /// The answer: each output asked for, as JSON data or as binary data after the JSON (then
    /// `Inference-Header-Content-Length` gives the JSON's length).
    static func inferResponse(
        model: String, version: String, id: String?, outputs: [(name: String, binary: Bool)], probabilities: [Float], threshold: Double
    ) -> Response {
        let rows = probabilities.count
        var json = JSONWriter(capacity: 256 + rows * 24)
        var tensors = ByteBuffer()
        json.raw("{\"model_name\":")
        json.string(model)
        json.raw(",\"model_version\":")
        json.string(version)
        if let id {
            json.raw(",\"id\":")
            json.string(id)
        }
        json.raw(",\"outputs\":[")
        for (k, output) in outputs.enumerated() {
            let probability = output.name == "hazard_probability"
            if k > 0 { json.raw(",") }
            json.raw("{\"name\":")
            json.string(output.name)
            json.raw(probability ? ",\"datatype\":\"FP32\",\"shape\":[" : ",\"datatype\":\"INT64\",\"shape\":[")
            json.int(rows)
            if output.binary {
                json.raw("],\"parameters\":{\"binary_data_size\":")
                json.int(rows * (probability ? 4 : 8))
                json.raw("}}")
                for p in probabilities {
                    if probability {
                        tensors.writeInteger(p.bitPattern, endianness: .little)
                    } else {
                        tensors.writeInteger(Int64(Double(p) >= threshold ? 1 : 0), endianness: .little)
                    }
                }
            } else {
                json.raw("],\"data\":[")
                for (i, p) in probabilities.enumerated() {
                    if i > 0 { json.raw(",") }
                    if probability { json.float(p) } else { json.raw(Double(p) >= threshold ? "1" : "0") }
                }
                json.raw("]}")
            }
        }
        json.raw("]}")
        guard tensors.readableBytes > 0 else {
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json.buffer))
        }
        var body = json.buffer
        let headerLength = body.readableBytes
        body.writeBuffer(&tensors)
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", inferenceHeaderContentLength: String(headerLength)],
            body: .init(byteBuffer: body))
    }
}
