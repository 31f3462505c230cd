import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

@Suite("Open Inference Protocol v2")
struct OpenInferenceRouteTests {
    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
    }

    @Test func testHealthRoutes() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let live = try await client.execute(uri: "/v2/health/live", method: .get)
            #expect(live.status == .ok)
            #expect(try Self.json(live)["live"] as? Bool == true)
            let ready = try await client.execute(uri: "/v2/health/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(try Self.json(ready)["ready"] as? Bool == true)
        }
    }

    @Test func testModelMetadataDescribesTheInputTensor() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let vector = try #require(try TestApp.defaultStoreVectors().first)
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/v2/models/battery-hazard", method: .get)
            #expect(response.status == .ok)
            let metadata = try Self.json(response)
            let inputs = metadata["inputs"] as? [[String: Any]]
            #expect(inputs?.first?["shape"] as? [Int] == [-1, vector.feature_names.count])
            #expect((metadata["outputs"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["hazard_probability", "label"])
            let missing = try await client.execute(uri: "/v2/models/other", method: .get)
            #expect(missing.status == .notFound)
            #expect(try Self.json(missing)["error"] is String)
        }
    }

    @Test func testInferReturnsPythonsProbabilities() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let active = try Self.json(try await client.execute(uri: "/models/active", method: .get))["run_id"] as? String
            let vector = try #require(try TestApp.defaultStoreVectors().first { $0.run_id == active })
            let rows = Array(vector.readings.prefix(20))
            let data = rows.flatMap { reading in vector.feature_names.map { reading[$0]! } }
            let request: [String: Any] = [
                "id": "req-1",
                "inputs": [["name": "input-0", "shape": [rows.count, vector.feature_names.count], "datatype": "FP64", "data": data]],
            ]
            let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: request))
            let response = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: TestApp.json, body: body)
            #expect(response.status == .ok)
            let answer = try Self.json(response)
            #expect(answer["id"] as? String == "req-1")
            #expect(answer["model_version"] as? String == vector.run_id)
            let outputs = answer["outputs"] as? [[String: Any]] ?? []
            let probabilities = outputs.first { $0["name"] as? String == "hazard_probability" }?["data"] as? [Double] ?? []
            let labels = outputs.first { $0["name"] as? String == "label" }?["data"] as? [Int] ?? []
            #expect(probabilities.count == rows.count)
            for (p, e) in zip(probabilities, vector.probabilities) { #expect(abs(p - e) <= 1e-6) }
            #expect(labels == Array(vector.predictions.prefix(rows.count)))
        }
    }

    @Test(arguments: [
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 2], \"datatype\": \"FP32\", \"data\": [1, 2]}]}",
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"BYTES\", \"data\": [\"a\"]}]}",
        "{\"inputs\": []}",
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, FEATURES], \"datatype\": \"FP32\", \"data\": [1]}]}",
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, FEATURES], \"datatype\": \"FP32\", \"data\": [true]}]}",
        "nonsense",
    ])
    func testBadInferRequestsAreProtocolErrors(template: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let features = try #require(try TestApp.defaultStoreVectors().first).feature_names.count
        let body = ByteBuffer(string: template.replacingOccurrences(of: "FEATURES", with: "\(features)"))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: TestApp.json, body: body)
            #expect(response.status == .badRequest)
            let message = try Self.json(response)["error"] as? String
            #expect(message?.isEmpty == false)
        }
    }

    /// The served run's vector: its readings as rows of the scaler's features, and Python's answers.
    static func activeVector(_ client: some TestClientProtocol) async throws -> (vector: TestApp.Vector, rows: [[Double]]) {
        let active = try Self.json(try await client.execute(uri: "/models/active", method: .get))["run_id"] as? String
        let vector = try #require(try TestApp.defaultStoreVectors().first { $0.run_id == active })
        return (vector, vector.readings.prefix(20).map { reading in vector.feature_names.map { reading[$0]! } })
    }

    /// Triton's Python client sends its JSON with no Content-Type at all.
    @Test func testABodyWithoutContentTypeIsReadAsJSON() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let (vector, rows) = try await Self.activeVector(client)
            let request: [String: Any] = ["inputs": [["name": "input-0", "shape": [rows.count, rows[0].count], "datatype": "FP64", "data": rows.flatMap { $0 }]]]
            let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: request))
            let response = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: [:], body: body)
            #expect(response.status == .ok)
            let outputs = try Self.json(response)["outputs"] as? [[String: Any]] ?? []
            let probabilities = outputs.first { $0["name"] as? String == "hazard_probability" }?["data"] as? [Double] ?? []
            #expect(probabilities.count == rows.count)
            for (p, e) in zip(probabilities, vector.probabilities) { #expect(abs(p - e) <= 1e-6) }
            // Other content types stay refused, in the protocol's error form.
            let text = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: [.contentType: "text/plain"], body: body)
            #expect(text.status == .unsupportedMediaType)
            #expect(try Self.json(text)["error"] is String)
        }
    }

    /// A request of the binary tensor extension: the JSON, then the tensor's little-endian bytes.
    static func binaryRequest(rows: [[Double]], datatype: String, outputs: [[String: Any]]?, binaryOutput: Bool?) throws -> (HTTPFields, ByteBuffer) {
        var tensor = ByteBuffer()
        for value in rows.flatMap({ $0 }) {
            switch datatype {
            case "FP32": tensor.writeInteger(Float(value).bitPattern, endianness: .little)
            case "FP64": tensor.writeInteger(value.bitPattern, endianness: .little)
            default: tensor.writeInteger(Int64(value.rounded()), endianness: .little)
            }
        }
        var request: [String: Any] = [
            "id": "bin-1",
            "inputs": [["name": "input-0", "shape": [rows.count, rows[0].count], "datatype": datatype, "parameters": ["binary_data_size": tensor.readableBytes]]],
        ]
        if let outputs { request["outputs"] = outputs }
        if let binaryOutput { request["parameters"] = ["binary_data_output": binaryOutput] }
        var body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: request))
        let headers: HTTPFields = [.contentType: "application/octet-stream", OpenInferenceController.inferenceHeaderContentLength: String(body.readableBytes)]
        body.writeBuffer(&tensor)
        return (headers, body)
    }

    /// The answer's JSON part and its binary outputs by name, split as the extension says.
    static func splitBinary(_ response: TestResponse) throws -> (json: [String: Any], binary: [String: ByteBuffer]) {
        let body = response.body
        let length = try #require(response.headers[OpenInferenceController.inferenceHeaderContentLength].flatMap { Int($0) })
        let header = try #require(body.getSlice(at: body.readerIndex, length: length))
        let json = try JSONSerialization.jsonObject(with: Data(buffer: header)) as? [String: Any] ?? [:]
        var binary: [String: ByteBuffer] = [:]
        var offset = body.readerIndex + length
        for output in json["outputs"] as? [[String: Any]] ?? [] {
            guard let size = (output["parameters"] as? [String: Any])?["binary_data_size"] as? Int else { continue }
            binary[output["name"] as? String ?? ""] = body.getSlice(at: offset, length: size)
            offset += size
        }
        #expect(offset == body.writerIndex, "nothing after the declared outputs")
        return (json, binary)
    }

    @Test(arguments: ["FP32", "FP64"])
    func testBinaryTensorsInAndOutGivePythonsProbabilities(datatype: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let (vector, rows) = try await Self.activeVector(client)
            // Both outputs binary (the request-wide parameter).
            let (headers, body) = try Self.binaryRequest(rows: rows, datatype: datatype, outputs: nil, binaryOutput: true)
            let response = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: headers, body: body)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/octet-stream")
            let (json, binary) = try Self.splitBinary(response)
            let roundedRows = rows.map { $0.map { Double(Float($0)) } }
            let roundedRequest: [String: Any] = ["inputs": [["name": "input-0", "shape": [rows.count, rows[0].count], "datatype": "FP64", "data": roundedRows.flatMap { $0 }]]]
            let roundedAnswer = try await client.execute(
                uri: "/v2/models/battery-hazard/infer", method: .post, headers: TestApp.json,
                body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: roundedRequest)))
            let rounded = (try Self.json(roundedAnswer)["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "hazard_probability" }?["data"] as? [Double] ?? []
            #expect(rounded.count == rows.count)
            #expect(json["id"] as? String == "bin-1")
            let probabilities = try #require(binary["hazard_probability"])
            let labels = try #require(binary["label"])
            #expect(probabilities.readableBytes == 4 * rows.count && labels.readableBytes == 8 * rows.count)
            for k in rows.indices {
                let bits = try #require(probabilities.getInteger(at: probabilities.readerIndex + 4 * k, endianness: .little, as: UInt32.self))
                let p = Double(Float(bitPattern: bits))
                if datatype == "FP64" {
                    #expect(abs(p - vector.probabilities[k]) <= 1e-6)
                } else {
                    // FP32 holds the readings rounded to float32: the answers are FP64's for those values.
                    #expect(Float(p) == Float(rounded[k]))
                }
                let label = try #require(labels.getInteger(at: labels.readerIndex + 8 * k, endianness: .little, as: Int64.self))
                #expect(label == Int64(vector.predictions[k]))
            }
            // One output asked for, as JSON, from binary inputs: only it, in JSON.
            let (jsonHeaders, jsonOut) = try Self.binaryRequest(rows: rows, datatype: datatype, outputs: [["name": "label", "parameters": ["binary_data": false]]], binaryOutput: true)
            let answer = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: jsonHeaders, body: jsonOut)
            #expect(answer.status == .ok && answer.headers[.contentType] == "application/json")
            let outputs = try Self.json(answer)["outputs"] as? [[String: Any]] ?? []
            #expect(outputs.count == 1 && outputs.first?["name"] as? String == "label")
            #expect(outputs.first?["data"] as? [Int] == Array(vector.predictions.prefix(rows.count)))
        }
    }

    @Test func testBadBinaryRequestsAreProtocolErrors() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let (_, rows) = try await Self.activeVector(client)
            let (headers, body) = try Self.binaryRequest(rows: rows, datatype: "FP64", outputs: nil, binaryOutput: nil)
            var short = body
            short.moveWriterIndex(to: body.writerIndex - 8)
            var longer = body
            longer.writeInteger(UInt64(0))
            var nan = body
            nan.setInteger(Double.nan.bitPattern, at: body.writerIndex - 8, endianness: .little)
            var badLength = headers
            badLength[OpenInferenceController.inferenceHeaderContentLength] = "nonsense"
            var pastEnd = headers
            pastEnd[OpenInferenceController.inferenceHeaderContentLength] = String(body.readableBytes + 1)
            let (_, unknownOutput) = try Self.binaryRequest(rows: rows, datatype: "FP64", outputs: [["name": "logits"]], binaryOutput: nil)
            var unknownHeaders = headers
            unknownHeaders[OpenInferenceController.inferenceHeaderContentLength] = String(unknownOutput.readableBytes - 8 * rows.count * rows[0].count)
            for (fields, payload) in [(headers, short), (headers, longer), (headers, nan), (badLength, body), (pastEnd, body), (unknownHeaders, unknownOutput)] {
                let response = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .post, headers: fields, body: payload)
                #expect(response.status == .badRequest)
                #expect(try Self.json(response)["error"] is String)
            }
            // Bytes after plain JSON that nothing declares.
            var trailing = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["inputs": [["name": "x", "shape": [1, rows[0].count], "datatype": "FP64", "data": rows[0]]]]))
            let jsonLength = trailing.readableBytes
            trailing.writeString("junk")
            let response = try await client.execute(
                uri: "/v2/models/battery-hazard/infer", method: .post,
                headers: [OpenInferenceController.inferenceHeaderContentLength: String(jsonLength)], body: trailing)
            #expect(response.status == .badRequest)
        }
    }

    @Test func testServerMetadataNamesTheBinaryExtension() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let metadata = try Self.json(try await client.execute(uri: "/v2", method: .get))
            #expect(metadata["extensions"] as? [String] == ["binary_tensor_data"])
        }
    }
}
