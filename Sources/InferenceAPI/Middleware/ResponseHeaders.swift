import HTTPTypes
import Hummingbird

/// Headers every answer carries, errors included: `X-Content-Type-Options: nosniff`, and
/// `Cache-Control: no-store` unless the route set its own (answers carry tenant data and tokens;
/// only the page's static files are cacheable).
enum ResponseHeaders {
    static func add(to headers: inout HTTPFields) {
        headers.put(.xContentTypeOptions, "nosniff")
        if !headers.contains(.cacheControl) { headers.append(HTTPField(name: .cacheControl, value: "no-store")) }
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
