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
}
