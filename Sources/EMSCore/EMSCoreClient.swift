import AnomalyDetection
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where EMS Core is and how to talk to it (`EMS_CORE_URL`, `EMS_CORE_TOKEN`,
/// `EMS_CORE_TIMEOUT_SECONDS`).
public struct EMSCoreEndpoint: Sendable, Equatable {
    /// Without a trailing slash.
    public var baseURL: String
    public var token: String?
    public var timeout: TimeInterval

    public init(baseURL: String, token: String?, timeout: TimeInterval = 10) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
    }
}

/// What went wrong talking to EMS Core.
public enum EMSCoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer: refused, reset, or no answer within the timeout.
    case unreachable(String)
    case timedOut
    /// An answer that is not what was asked.
    case status(Int, String)
    case malformed(String)

    public var description: String {
        switch self {
        case .unreachable(let why): "EMS Core is unreachable (\(why))"
        case .timedOut: "EMS Core did not answer in time"
        case .status(let code, let body): "EMS Core answered \(code)\(body.isEmpty ? "" : ": \(body.prefix(200))")"
        case .malformed(let why): "EMS Core's answer is malformed (\(why))"
        }
    }
}

/// EMS Core's HTTP API, as this service uses it: `GET /health`, `POST /api/events`,
/// `POST /api/alerts`, `GET /api/metrics`. Every request carries the bearer token and a deadline.
public struct EMSCoreClient: Sendable {
    public let endpoint: EMSCoreEndpoint
    let http: HTTPClient

    public init(endpoint: EMSCoreEndpoint, http: HTTPClient = EMSCoreClient.http) {
        self.endpoint = endpoint
        self.http = http
    }

    /// The process's client for EMS Core. Not `HTTPClient.shared`: that one retries a refused
    /// connection with backoff inside the pool, so while EMS Core is down every request (the
    /// breaker's probe too) waited out its whole deadline, and a recovery was seen seconds late.
    /// Here a refused connection fails at once and the deliverer's own backoff and breaker decide.
    /// Lives as long as the process, like `.shared`, so it is never shut down.
    public static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// A status, the `Retry-After` header and the start of the body.
    public struct Answer: Sendable {
        public let status: Int
        public let retryAfter: String?
        public let body: String
    }

    func request(_ method: HTTPMethod, _ pathAndQuery: String, body: [UInt8]? = nil, idempotencyKey: String? = nil) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: endpoint.baseURL + pathAndQuery)
        request.method = method
        if let token = endpoint.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "battery-inference")
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    /// Sends and reads at most `limit` bytes of the answer.
    func send(_ request: HTTPClientRequest, limit: Int = 64 * 1024) async throws -> (Answer, ByteBuffer) {
        do {
            let response = try await http.execute(request, timeout: .milliseconds(Int64(endpoint.timeout * 1000)))
            let body = try await response.body.collect(upTo: limit)
            let answer = Answer(
                status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                body: String(buffer: body.getSlice(at: body.readerIndex, length: min(body.readableBytes, 1024)) ?? ByteBuffer()))
            return (answer, body)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw EMSCoreError.timedOut
        } catch let error as EMSCoreError {
            throw error
        } catch let error as NIOTooManyBytesError {
            throw EMSCoreError.malformed("answer longer than \(limit) bytes: \(error)")
        } catch {
            throw EMSCoreError.unreachable(String(describing: type(of: error)))
        }
    }

    /// `GET /health`: throws unless 2xx.
    public func health() async throws {
        let (answer, _) = try await send(request(.GET, "/health"))
        guard (200..<300).contains(answer.status) else { throw EMSCoreError.status(answer.status, answer.body) }
    }

    /// `POST /api/events` or `/api/alerts` with the message's idempotency key; the answer as is
    /// (the deliverer decides what it means).
    public func post(_ message: OutboxMessage) async throws -> Answer {
        let (path, body) = EMSCoreRequests.body(for: message)
        return try await send(request(.POST, path, body: body, idempotencyKey: message.idempotencyKey)).0
    }
}
