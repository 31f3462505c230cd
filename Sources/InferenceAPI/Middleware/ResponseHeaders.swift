import HTTPTypes
import Hummingbird

/// Headers every answer carries, errors included: `X-Content-Type-Options: nosniff`, and
/// `Cache-Control: no-store` unless the route set its own (answers carry tenant data and tokens;
/// only the page's static files are cacheable).
enum ResponseHeaders {
    static func add(to headers: inout HTTPFields) {
        headers[.xContentTypeOptions] = "nosniff"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
