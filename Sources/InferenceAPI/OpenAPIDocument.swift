import Foundation
import NIOCore
import Synchronization

/// The OpenAPI 3.1 description served at `GET /openapi.json`, kept in `Resources/openapi.json`.
///
/// Kept true to the code by `OpenAPIDocumentTests` (every route documented, every documented path
/// routed), by `RouteAccessTests` (each operation's `x-access` is what its route enforces) and by
/// `make check-api` (schemathesis against a live server). Served with the `Reading` schema naming
/// the served model's features, so generated clients know them, and with the security and the
/// 401/403/429 answers each operation's `x-access` implies, written once here rather than on
/// every path.
enum OpenAPIDocument {
    /// The resource's bytes, read once; nil only if the build lost the file (a test fails then).
    static let resourceData: Data? = Bundle.module.url(forResource: "openapi", withExtension: "json").flatMap { try? Data(contentsOf: $0) }

    /// The resource as committed.
    static var resource: [String: Any]? {
        resourceData.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
    }

    /// The served document for these features, rendered once per feature list: rendering it
    /// (JSONSerialization, both ways, keys sorted) took about 10 ms, so the open route answered
    /// about 100 requests a second for a whole core, to anyone.
    static func body(featureNames: [String]) -> ByteBuffer {
        if let cached = rendered.withLock({ $0 }), cached.featureNames == featureNames { return cached.body }
        let body = ByteBuffer(bytes: json(featureNames: featureNames))
        rendered.withLock { $0 = (featureNames, body) }
        return body
    }

    private static let rendered = Mutex<(featureNames: [String], body: ByteBuffer)?>(nil)

    static func json(featureNames: [String]) -> Data {
        var document = resource ?? [:]
        if var components = document["components"] as? [String: Any], var schemas = components["schemas"] as? [String: Any],
            var reading = schemas["Reading"] as? [String: Any]
        {
            var properties = reading["properties"] as? [String: Any] ?? [:]
            for name in featureNames { properties[name] = ["type": "number"] }
            reading["properties"] = properties
            reading["required"] = featureNames
            schemas["Reading"] = reading
            components["schemas"] = schemas
            document["components"] = components
        }
        document["paths"] = withAccess(document["paths"])
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// Security requirements and the answers `RouteAccess` can give, from `x-access`: 401 and 403
    /// wherever credentials are needed, 429 wherever the rate limit applies.
    static func withAccess(_ paths: Any?) -> Any? {
        guard var paths = paths as? [String: Any] else { return paths }
        let error: [String: Any] = ["$ref": "#/components/responses/Error"]
        for (path, value) in paths {
            guard var operations = value as? [String: Any] else { continue }
            for (method, value) in operations {
                guard var operation = value as? [String: Any], var responses = operation["responses"] as? [String: Any] else { continue }
                let access = operation["x-access"] as? String ?? "probe"
                var added: [String] = []
                switch access {
                case "probe":
                    operation["security"] = []
                case "open":
                    operation["security"] = []
                    added = ["429"]
                default:
                    operation["security"] = [["bearer": []], ["apiKey": []], ["basic": []]]
                    added = ["401", "403", "429"]
                }
                for status in added where responses[status] == nil { responses[status] = error }
                operation["responses"] = responses
                operations[method] = operation
            }
            paths[path] = operations
        }
        return paths
    }

    /// `x-access` of every documented operation, by "METHOD /path".
    static var documentedAccess: [String: String] {
        guard let paths = resource?["paths"] as? [String: [String: Any]] else { return [:] }
        var access: [String: String] = [:]
        for (path, operations) in paths {
            for (method, operation) in operations {
                access["\(method.uppercased()) \(path)"] = (operation as? [String: Any])?["x-access"] as? String ?? "missing"
            }
        }
        return access
    }

    /// Paths and methods documented, for the route-coverage test.
    static var documentedRoutes: Set<String> { Set(documentedAccess.keys) }
}
