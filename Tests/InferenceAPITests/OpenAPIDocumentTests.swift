import Artifacts
import Foundation
import NIOCore
import Storage
import Testing

@testable import InferenceAPI

@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    /// Every route has a documented path and method, and every documented path is routed.
    @Test func testEveryRouteIsDocumentedAndEveryDocumentedPathIsRouted() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let models = ModelService(store: try MLflowStore(root: empty), configuredReference: nil, selectMetric: "roc_auc")
        let router = buildRouter(services: await AppServices(configuration: Configuration(), models: models, stores: .memory()))
        let routed = Set(router.routes.map { "\($0.method.rawValue) \(Self.openAPIPath($0.path.description))" })
        let documented = OpenAPIDocument.documentedRoutes
        #expect(routed.subtracting(documented).isEmpty, "routes without documentation: \(routed.subtracting(documented).sorted())")
        #expect(documented.subtracting(routed).isEmpty, "documented but not routed: \(documented.subtracting(routed).sorted())")
        #expect(routed.count >= 19)
    }

    /// The document is a resource of the target; no answer writes `\/`.
    @Test func testDocumentIsOpenAPI31AndNamesTheFeatures() throws {
        let data = OpenAPIDocument.json(featureNames: ["a", "b"])
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let reading = ((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?["Reading"] as? [String: Any]
        #expect(reading?["required"] as? [String] == ["a", "b"])
        #expect(!String(decoding: data, as: UTF8.self).contains("\\/"), "no escaped slashes")
        let predict = ((document["paths"] as? [String: Any])?["/predict"] as? [String: Any])?["post"] as? [String: Any]
        #expect(predict?["x-access"] as? String == "predict")
        #expect(((predict?["responses"] as? [String: Any])?.keys).map(Set.init)?.isSuperset(of: ["401", "403", "429"]) == true)
        let health = ((document["paths"] as? [String: Any])?["/health"] as? [String: Any])?["get"] as? [String: Any]
        #expect((health?["security"] as? [Any])?.isEmpty == true && (health?["responses"] as? [String: Any])?["429"] == nil)
    }

    /// The served document is rendered once per feature list, and again when the model's
    /// features change (a swap to a run with other features).
    @Test func testTheServedDocumentFollowsTheFeatures() throws {
        func required(_ body: ByteBuffer) throws -> [String]? {
            let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])
            return (((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?["Reading"] as? [String: Any])?["required"] as? [String]
        }
        let first = OpenAPIDocument.body(featureNames: ["x", "y"])
        #expect(try required(first) == ["x", "y"])
        #expect(first == ByteBuffer(bytes: OpenAPIDocument.json(featureNames: ["x", "y"])))
        #expect(OpenAPIDocument.body(featureNames: ["x", "y"]) == first)
        #expect(try required(OpenAPIDocument.body(featureNames: ["z"])) == ["z"])
        #expect(try required(OpenAPIDocument.body(featureNames: ["x", "y"])) == ["x", "y"])
    }

    /// Hummingbird prints captures as `{name}` or `:name`; OpenAPI uses `{name}`.
    static func openAPIPath(_ path: String) -> String {
        let withSlash = path.hasPrefix("/") ? path : "/" + path
        return withSlash.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }.joined(separator: "/")
    }
}
