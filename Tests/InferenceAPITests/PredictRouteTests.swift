import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

@Suite("POST /predict")
struct PredictRouteTests {
    @Test func testPredictReturnsPythonsProbabilitiesForTheServedRun() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let active = try await activeRunId(app)
        let vector = try #require(try TestApp.defaultStoreVectors().first { $0.run_id == active }, "a vector for the served run")
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(vector.readings)) { response in
                #expect(response.status == .ok)
                let answer = try PredictAnswer.decode(response)
                #expect(answer.model.run_id == vector.run_id)
                #expect(answer.predictions.count == vector.readings.count)
                for (prediction, (expected, label)) in zip(answer.predictions, zip(vector.probabilities, vector.predictions)) {
                    #expect(abs(prediction.hazard_probability - expected) <= 1e-6)
                    #expect(prediction.prediction == label)
                    #expect(prediction.label == (label == 1 ? "Hazardous" : "Normal"))
                }
                #expect(answer.summary.count == vector.readings.count)
                #expect(answer.summary.hazardous == vector.predictions.reduce(0, +))
            }
        }
    }

    @Test func testModuleIdIsPassedThroughAndKeyOrderDoesNotMatter() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let vector = try #require(try TestApp.defaultStoreVectors().first)
        let reading = vector.readings[0]
        // Keys in reverse order, plus a module id.
        let pairs = reading.keys.sorted().reversed().map { "\"\($0)\": \(reading[$0]!)" }.joined(separator: ", ")
        let body = "{\"readings\": [{\(pairs), \"module_id\": \"M-42\"}]}"
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let answer = try PredictAnswer.decode(response)
                #expect(answer.predictions.first?.module_id == "M-42")
            }
        }
    }

    /// Module ids and timestamps come back as the client sent them, whatever characters they hold:
    /// quotes, backslashes, control characters, non-ASCII, escapes in the body.
    @Test func testModuleIdsAndTimestampsComeBackExactly() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let vector = try #require(try TestApp.defaultStoreVectors().first)
        let reading = vector.readings[0].map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        let modules = ["M-42", "rack-12/module-7-with-a-long-name", "q\"uote", "back\\slash", "tab\tnew\nline\u{1}", "é😀", "\u{7F}"]
        let rows = modules.map { module -> String in
            let encoded = String(decoding: try! JSONEncoder().encode(module), as: UTF8.self)
            return "{\(reading), \"module_id\": \(encoded), \"timestamp\": \(encoded)}"
        }
        // The same id escaped differently in the body: \u0041 is A.
        let body = "{\"readings\": [\(rows.joined(separator: ", ")), {\(reading), \"module_id\": \"\\u0041\\/\"}]}"
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                let predictions = try #require(object["predictions"] as? [[String: Any]])
                #expect(predictions.map { $0["module_id"] as? String } == modules + ["A/"])
                #expect(predictions.prefix(modules.count).map { $0["timestamp"] as? String } == modules)
            }
        }
    }

    @Test func testValidationErrorsUseTheEnvelopeWithPerReadingDetails() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        let vector = try #require(try TestApp.defaultStoreVectors().first)
        var broken = vector.readings[0]
        let first = vector.feature_names[0]
        broken.removeValue(forKey: first)
        broken[first + "x"] = 1
        let body = TestApp.body([vector.readings[0], broken])
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: body) { response in
                #expect(response.status == .badRequest)
                let envelope = try Envelope.decode(response)
                #expect(envelope.error.code == "validation_failed")
                #expect(envelope.error.details.contains(.init(index: 1, field: first, problem: "is missing", suggestion: nil)))
                #expect(envelope.error.details.contains { $0.index == 1 && $0.field == first + "x" && $0.suggestion == first })
                #expect(!envelope.error.request_id.isEmpty)
                #expect(response.headers[.init("X-Request-ID")!] == envelope.error.request_id)
            }
        }
    }

    @Test(arguments: [
        ("{\"readings\": []}", HTTPResponse.Status.badRequest, "validation_failed"),
        ("{\"readings\": 5}", .badRequest, "validation_failed"),
        ("[1, 2]", .badRequest, "validation_failed"),
        ("{\"readings\": [", .badRequest, "invalid_json"),
        ("", .badRequest, "invalid_json"),
    ])
    func testMalformedBodiesAreClientErrors(body: String, status: HTTPResponse.Status, code: String) async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: ByteBuffer(string: body)) { response in
                #expect(response.status == status)
                let envelope = try Envelope.decode(response)
                #expect(envelope.error.code == code)
            }
        }
    }

    @Test func testNonJSONContentTypeIs415() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unsupportedMediaType)
                let envelope = try Envelope.decode(response)
                #expect(envelope.error.code == "unsupported_media_type")
            }
        }
    }

    /// The media type is compared without parameters, blanks or case; anything else is 415.
    @Test func testTheMediaTypeIsReadWithoutParametersBlanksOrCase() {
        #expect(Request.mediaType(" Application/JSON ; charset=utf-8") == "application/json")
        #expect(Request.mediaType("application/vnd.api+json") == "application/vnd.api+json")
        #expect(Request.mediaType("\ttext/plain\t") == "text/plain")
        #expect(Request.mediaType("") == "" && Request.mediaType(" ; x") == "")
        #expect(Request.isJSON(Request.mediaType("APPLICATION/JSON")) && !Request.isJSON(Request.mediaType("application/jsonx")))
        // A field sent once is read as sent; a repeated one joined, as HTTPFields does.
        var fields: HTTPFields = [.contentType: "application/json"]
        #expect(fields.value(.contentType) == "application/json" && fields.value(.contentLength) == nil)
        fields.append(HTTPField(name: .contentType, value: "text/plain"))
        #expect(fields.value(.contentType) == "application/json, text/plain" && fields.value(.contentType) == fields[.contentType])
    }

    @Test func testTooManyReadingsIs413() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration { $0.maxReadingsPerRequest = 3 })
        let vector = try #require(try TestApp.defaultStoreVectors().first)
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(Array(vector.readings.prefix(4)))) { response in
                #expect(response.status == .contentTooLarge)
                let envelope = try Envelope.decode(response)
                #expect(envelope.error.code == "too_many_readings")
            }
        }
    }

    @Test func testBodyOverTheLimitIs413() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration { $0.maxBodyBytes = 2048 })
        let vector = try #require(try TestApp.defaultStoreVectors().first)
        try await app.test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: TestApp.json, body: TestApp.body(Array(vector.readings.prefix(50)))) { response in
                #expect(response.status == .contentTooLarge)
                let envelope = try Envelope.decode(response)
                #expect(envelope.error.code == "payload_too_large")
            }
        }
    }

    @Test func testUnknownRouteIsEnvelope404() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                let envelope = try Envelope.decode(response)
                #expect(envelope.error.code == "not_found")
            }
        }
    }

    func activeRunId(_ app: some ApplicationProtocol) async throws -> String {
        try await app.test(.router) { client in
            try await client.execute(uri: "/models/active", method: .get) { response in
                #expect(response.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                return object?["run_id"] as? String ?? ""
            }
        }
    }
}

@Suite("Routing errors")
struct RoutingErrorTests {
    @Test func testWrongMethodOnAKnownPathIs405WithAllow() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/predict", method: .get)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST")
            let envelope = try Envelope.decode(response)
            #expect(envelope.error.code == "method_not_allowed")
            let captured = try await client.execute(uri: "/v2/models/battery-hazard/infer", method: .get)
            #expect(captured.status == .methodNotAllowed)
            let health = try await client.execute(uri: "/health", method: .delete)
            #expect(health.status == .methodNotAllowed)
            #expect(health.headers[.allow] == "GET, HEAD", "a GET route also answers HEAD")
        }
    }

    /// `HEAD` on every `GET` route, over the network: the GET's status and headers, `Content-Length`
    /// included, and no body (`HEAD /` was 405 before). A POST-only path stays 405, without a body.
    @Test func testHeadAnswersEveryGetRouteWithoutABody() async throws {
        let app = try await buildApplication(configuration: TestApp.configuration())
        try await app.test(.live) { client in
            for uri in ["/", "/health", "/ready", "/models/active", "/openapi.json", "/v2/models/battery-hazard", "/anomaly/episodes"] {
                let get = try await client.execute(uri: uri, method: .get)
                let head = try await client.execute(uri: uri, method: .head)
                #expect(head.status == get.status, "\(uri): HEAD \(head.status), GET \(get.status)")
                #expect(head.body.readableBytes == 0, "\(uri): no body")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(uri)")
                if let length = get.headers[.contentLength] {
                    #expect(head.headers[.contentLength] == length, "\(uri): the GET's Content-Length")
                }
            }
            let post = try await client.execute(uri: "/predict", method: .head)
            #expect(post.status == .methodNotAllowed && post.body.readableBytes == 0)
            #expect(post.headers[.allow] == "POST")
        }
    }
}
