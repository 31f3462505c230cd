import Hummingbird
import Logging
import NIOHTTP1
import Storage

/// Turns every error into the JSON envelope (`EdgeMiddleware` applies it): the domain's errors
/// through their one mapping (Errors+Domain.swift); Hummingbird's own `HTTPError`s (404 for an
/// unknown route, 405, 413 for a body over the limit) keep their status with a code and message
/// of ours; anything else is a 500 that is logged and never leaks internals to the client.
struct ErrorEnvelope: Sendable {
    let allowed: AllowedMethods
    var telemetry: Telemetry?

    func answer(for error: any Error, request: Request, logger: Logger) -> APIError {
        if let mapped = APIError.mapping(error) { return mapped }
        switch error {
        case let error as any HTTPResponseError:
            if error.status == .notFound {
                let allowed = self.allowed.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    var refusal = APIError(
                        .methodNotAllowed, code: "method_not_allowed",
                        message: "\(request.method) is not allowed on \(request.uri.path); use \(allowed.joined(separator: ", "))")
                    refusal.headers[.allow] = allowed.joined(separator: ", ")
                    return refusal
                }
            }
            return APIError(error.status, code: Self.code(for: error.status), message: Self.message(for: error, request: request))
        case let error as HTTPParserError:
            // The body's framing is broken (a chunk size that is not hex, negative or too big, an
            // unknown transfer coding): the client's mistake, found while reading the body.
            return APIError(.badRequest, code: "malformed_request", message: "the request is not valid HTTP/1.1: \(error)")
        case let error as StoreError:
            // The database is down or refused: the client's request was fine, and may be retried.
            telemetry?.storeError(backend: error.backend)
            logger.error("store error", metadata: ["error": "\(error)"])
            var refusal =
                error.storageFull
                ? APIError(.serviceUnavailable, code: "storage_full", message: "the server's disk is full: nothing was stored; retry once space is freed")
                : APIError.unavailable("the store is unavailable; retry later")
            refusal.headers[.retryAfter] = error.storageFull ? "30" : "1"
            return refusal
        default:
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return APIError(.internalServerError, code: "internal_error", message: "the server failed to answer; the request id identifies it in the logs")
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "payload_too_large"
        case 415: "unsupported_media_type"
        case 422: "unprocessable"
        case 429: "rate_limited"
        default: status.code >= 500 ? "internal_error" : "http_\(status.code)"
        }
    }

    static func message(for error: any HTTPResponseError, request: Request) -> String {
        switch error.status.code {
        case 404: "no route for \(request.method) \(request.uri.path)"
        case 405: "\(request.method) is not allowed on \(request.uri.path)"
        case 413: "the request body is larger than the server accepts"
        default:
            if let http = error as? HTTPError, let body = http.body { body } else { error.status.reasonPhrase }
        }
    }
}
