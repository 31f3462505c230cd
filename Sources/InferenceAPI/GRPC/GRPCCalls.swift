import Dispatch
import Foundation
import GRPCCore
import Hummingbird
import Logging

/// What every gRPC call goes through, as `RouteAccess` and `EdgeMiddleware` do for HTTP:
/// its credentials (`authorization` or `x-api-key` metadata) turned into a
/// principal, the caller's rate limit, the scope, a request id (the client's `x-request-id` when
/// it sends a sane one, answered in the response metadata and written in the log), the call
/// counted and timed, and every error a gRPC status.
struct GRPCCalls: Sendable {
    enum Access: Sendable {
        /// No credentials needed, rate limited per client (server metadata).
        case open
        case scope(Scope)
    }

    let authenticator: Authenticator
    let limiter: RateLimiter
    let telemetry: Telemetry
    let logger: Logger

    /// Runs `body` for the call `method`; `access` nil is a probe (no credentials, no limit).
    func handle<Output: Sendable>(
        _ method: String, _ metadata: Metadata, _ context: ServerContext, access: Access?,
        _ body: (Principal?) async throws -> Output
    ) async throws -> ServerResponse<Output> {
        let started = DispatchTime.now().uptimeNanoseconds
        let requestId = metadata[stringValues: "x-request-id"].first(where: RequestID.isAcceptable) ?? Self.newRequestId()
        do {
            var principal: Principal?
            if let access { principal = try await admit(method, metadata, context, access: access) }
            let message = try await body(principal)
            telemetry.grpcCall(method: method, code: "OK", nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            return ServerResponse(message: message, metadata: ["x-request-id": .string(requestId)])
        } catch {
            let status: RPCError
            switch error {
            case let refusal as RPCError: status = refusal
            case let refusal as APIError: status = RPCError(code: Self.code(for: refusal.status), message: refusal.message)
            default:
                logger.error("grpc call failed", metadata: ["method": "\(method)", "request_id": "\(requestId)", "error": "\(String(reflecting: type(of: error)))"])
                status = RPCError(code: .internalError, message: "the server failed to answer; the request id \(requestId) identifies it in the logs")
            }
            // grpc-go's names, as its Prometheus interceptors write them: "ResourceExhausted".
            let name = "\(status.code)"
            telemetry.grpcCall(method: method, code: name.prefix(1).uppercased() + name.dropFirst(), nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            logger.info("grpc call refused", metadata: ["method": "\(method)", "request_id": "\(requestId)", "code": "\(status.code)", "message": "\(status.message)"])
            throw RPCError(code: status.code, message: status.message, metadata: ["x-request-id": .string(requestId)])
        }
    }

    /// The caller's principal, past the rate limit and with the scope `access` needs.
    private func admit(_ method: String, _ metadata: Metadata, _ context: ServerContext, access: Access) async throws -> Principal? {
        let address = Self.host(ofPeer: context.remotePeer)
        var apiKey = metadata[stringValues: "x-api-key"].first { _ in true }
        var authorization = metadata[stringValues: "authorization"].first { _ in true }
        // gRPC clients that take one token (tritonclient's `headers`, grpcurl -H) often send an API
        // key as `authorization: <key>` without a scheme: read it as a key.
        if apiKey == nil, let value = authorization, !value.contains(" ") {
            apiKey = value
            authorization = nil
        }
        let principal: Principal?
        var failure: Authenticator.Failure?
        do {
            principal = try await authenticator.principal(apiKey: apiKey, authorization: authorization, address: address)
        } catch {
            principal = nil
            failure = error
        }
        let caller = principal.flatMap { $0.kind == .development ? nil : $0.id } ?? "ip:\(address)"
        // The HTTP route's allowance for inference, so both protocols share a caller's limit.
        let decision = limiter.take(caller: caller, pattern: method == "ModelInfer" ? "/v2/models/{name}/infer" : "grpc \(method)")
        guard decision.allowed else {
            telemetry.rateLimited(route: "grpc \(method)")
            throw RPCError(
                code: .resourceExhausted, message: "more than \(decision.limit) calls per minute; retry after \(decision.retryAfter) s",
                metadata: ["retry-after": .string("\(decision.retryAfter)")])
        }
        guard case .scope(let scope) = access else { return principal }
        if let failure { throw RPCError(code: Self.code(for: RouteAccess.refusal(failure).status), message: RouteAccess.refusal(failure).message) }
        guard let principal else {
            throw RPCError(code: .unauthenticated, message: "credentials are required: send 'authorization: Bearer <token or API key>' or 'x-api-key: <key>' metadata")
        }
        guard principal.allows(scope) else {
            throw RPCError(code: .permissionDenied, message: "this call needs the scope '\(scope.rawValue)', which these credentials do not grant")
        }
        return principal
    }

    /// The gRPC code of an HTTP status (the mapping gRPC's HTTP guide gives, and 413 as a bad argument).
    static func code(for status: HTTPResponse.Status) -> RPCError.Code {
        switch status.code {
        case 400, 413, 415, 422: .invalidArgument
        case 401: .unauthenticated
        case 403: .permissionDenied
        case 404: .notFound
        case 409: .failedPrecondition
        case 429: .resourceExhausted
        case 503: .unavailable
        case 504: .deadlineExceeded
        default: .internalError
        }
    }

    static func rpcError(_ error: OpenInferenceController.OIPError) -> RPCError {
        RPCError(code: code(for: error.status), message: error.message)
    }

    /// `ipv4:127.0.0.1:5555` -> `127.0.0.1`; `ipv6:[::1]:5555` -> `::1`.
    static func host(ofPeer peer: String) -> String {
        var text = Substring(peer)
        if let colon = text.firstIndex(of: ":"), ["ipv4", "ipv6", "unix"].contains(text[..<colon]) { text = text[text.index(after: colon)...] }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") { return String(text[text.index(after: text.startIndex)..<close]) }
        if let colon = text.lastIndex(of: ":") { return String(text[..<colon]) }
        return String(text)
    }

    /// 32 hex digits of randomness. (String(format:) per byte was 8 % of a one-row call's CPU.)
    static func newRequestId() -> String {
        var random = SystemRandomNumberGenerator()
        let words = (random.next() as UInt64, random.next() as UInt64)
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for k in 0..<32 {
                let word = k < 16 ? words.0 : words.1
                buffer[k] = digits[Int((word >> (60 - 4 * UInt64(k % 16))) & 0xF)]
            }
            return 32
        }
    }
}
