import Foundation
import Hummingbird

/// The one error shape every 4xx/5xx answer uses:
/// `{"error": {"code", "message", "details", "request_id"}}`.
public struct APIError: HTTPResponseError, Sendable {
    /// One precise problem, e.g. reading 3's field `soc_pct`.
    public struct Detail: Codable, Sendable, Equatable {
        public var index: Int?
        public var field: String?
        public var problem: String
        public var suggestion: String?

        public init(index: Int? = nil, field: String? = nil, problem: String, suggestion: String? = nil) {
            self.index = index
            self.field = field
            self.problem = problem
            self.suggestion = suggestion
        }
    }

    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public let details: [Detail]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [Detail] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    /// The JSON error envelope's bytes.
    func envelope(requestId: String) throws -> Data {
        try JSONEncoder.api.encode(Envelope(error: .init(code: code, message: message, details: details, request_id: requestId)))
    }

    private struct Envelope: Encodable {
        struct Body: Encodable {
            let code: String
            let message: String
            let details: [Detail]
            let request_id: String
        }
        let error: Body
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        // The Open Inference Protocol's routes answer in its own form, `{"error": "<message>"}`,
        // which its clients (Triton's, KServe's) read: refusals made before the route (credentials,
        // scopes, rate limits, body limits) included.
        let path = request.uri.path
        let data = path == "/v2" || path.hasPrefix("/v2/") ? try JSONEncoder.api.encode(["error": message]) : try envelope(requestId: context.id)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension APIError {
    static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message: message) }
    static func validation(_ message: String, _ details: [Detail] = []) -> APIError {
        APIError(.badRequest, code: "validation_failed", message: message, details: details)
    }
    static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, code: "unavailable", message: message)
    }
}
