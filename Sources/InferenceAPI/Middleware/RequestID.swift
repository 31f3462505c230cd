import HTTPTypes
import Hummingbird

/// The request id: the client's `X-Request-ID` when it is a sane token, or the one Hummingbird
/// generated; it is on every log line of the request (`hb.request.id`) and echoed in the answer
/// (`EdgeMiddleware`).
enum RequestID {
    /// Puts the client's id, when acceptable, on the request's log lines.
    static func adopt(from request: Request, into context: inout AppRequestContext) {
        if let given = request.headers[.requestID], isAcceptable(given) {
            context.logger[metadataKey: "hb.request.id"] = .string(given)
        }
    }

    /// Printable ASCII without spaces, at most 128 characters: safe to log and echo.
    static func isAcceptable(_ s: String) -> Bool {
        (1...128).contains(s.utf8.count) && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-ID")!
}
