import HTTPTypes
import Hummingbird

/// Takes the request id from `X-Request-ID` (when it is a sane token) or keeps the generated one,
/// puts it on every log line of the request (`hb.request.id`) and echoes it in the response.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let given = request.headers[.requestID], Self.isAcceptable(given) {
            context.logger[metadataKey: "hb.request.id"] = .string(given)
        }
        let id = context.id
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = id
            return response
        } catch var error as APIError {
            error.headers[.requestID] = id
            throw error
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
