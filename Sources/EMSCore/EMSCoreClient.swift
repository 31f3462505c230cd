import AsyncHTTPClient
import ComputeSupport
import Foundation
import NIOCore
import NIOHTTP1
import Storage

/// Where EMS Core is, how to talk to it and how much to take from it (`EMS_CORE_URL`,
/// `EMS_CORE_TOKEN`, `EMS_CORE_TIMEOUT_SECONDS`, `EMS_CORE_MAX_PAGE_BYTES`, `EMS_TRAIN_MAX_SAMPLES`,
/// `EMS_TRAIN_TIMEOUT_SECONDS`).
public struct EMSCoreEndpoint: Sendable, Equatable {
    /// Without a trailing slash.
    public var baseURL: String
    public var token: String?
    /// The total deadline of one request: connecting, the answer's head and its whole body.
    public var timeout: TimeInterval
    /// The longest metrics page read; a longer one is refused as soon as the cap is passed (or
    /// at once when its `Content-Length` says so).
    public var maxPageBytes: Int
    /// The most distinct samples one training may fetch.
    public var trainMaxSamples: Int
    /// The deadline of fetching every page of one training.
    public var trainTimeout: TimeInterval

    public init(
        baseURL: String, token: String?, timeout: TimeInterval = 10, maxPageBytes: Int = 8 * 1024 * 1024, trainMaxSamples: Int = 200_000,
        trainTimeout: TimeInterval = 120
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
        self.maxPageBytes = maxPageBytes
        self.trainMaxSamples = trainMaxSamples
        self.trainTimeout = trainTimeout
    }
}

/// What went wrong talking to EMS Core.
public enum EMSCoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer: refused or reset.
    case unreachable(String)
    /// No complete answer (head and body) within its deadline; says which.
    case timedOut(String)
    /// An answer that is not what was asked.
    case status(Int, String)
    case malformed(String)
    /// An answer longer than its cap.
    case tooLarge(String)
    /// More samples in the asked range than one training takes (`EMS_TRAIN_MAX_SAMPLES`).
    case tooManySamples(Int)

    public var description: String {
        switch self {
        case .unreachable(let why): "EMS Core is unreachable (\(why))"
        case .timedOut(let what): "EMS Core did not answer in time: \(what)"
        case .status(let code, let body): "EMS Core answered \(code)\(body.isEmpty ? "" : ": \(UpstreamText.excerpt(body))")"
        case .malformed(let why): "EMS Core's answer is malformed (\(why))"
        case .tooLarge(let what): "EMS Core's answer is too large: \(what)"
        case .tooManySamples(let cap):
            "EMS Core has more than \(cap) samples in the range (EMS_TRAIN_MAX_SAMPLES): train on a shorter range"
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
    /// Lives as long as the process, like `.shared`, so it is never shut down. Redirects are not
    /// followed (async-http-client's default follows them to any host, with the bearer token and
    /// the alert): a 3xx is answered as it came, and the deliverer says where it led.
    public static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// A status, the `Retry-After` and `Location` headers and the start of the body.
    public struct Answer: Sendable {
        public let status: Int
        public let retryAfter: String?
        public let body: String
        /// Where a redirect (3xx) leads; not followed.
        public var location: String? = nil
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

    /// Sends and reads at most `limit` bytes of the answer, all within `endpoint.timeout`.
    func send(_ request: HTTPClientRequest, limit: Int = 64 * 1024) async throws -> (Answer, ByteBuffer) {
        let timeout = endpoint.timeout
        let http = self.http
        let what = "\(request.method) \(request.url.dropFirst(endpoint.baseURL.count).prefix(while: { $0 != "?" }))"
        let seconds = String(format: "%g", timeout)
        do {
            return try await withDeadline(.now + .milliseconds(Int64(timeout * 1000)), { "\(what): no complete answer within \(seconds) s (EMS_CORE_TIMEOUT_SECONDS)" }) {
                // async-http-client's deadline still bounds connecting and the head; the race bounds the body too.
                let response = try await http.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
                let body = try await response.body.collect(upTo: limit)
                let answer = Answer(
                    status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                    body: String(buffer: body.getSlice(at: body.readerIndex, length: min(body.readableBytes, 1024)) ?? ByteBuffer()),
                    location: response.headers.first(name: "Location"))
                return (answer, body)
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw EMSCoreError.timedOut("\(what): no answer within \(seconds) s (EMS_CORE_TIMEOUT_SECONDS)")
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch let error as EMSCoreError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch is NIOTooManyBytesError {
            throw EMSCoreError.tooLarge("\(what): longer than \(limit) bytes")
        } catch {
            throw EMSCoreError.unreachable(String(describing: type(of: error)))
        }
    }

    /// `GET /health`: throws unless 2xx.
    public func health() async throws {
        let (answer, _) = try await send(request(.GET, "/health"))
        guard (200..<300).contains(answer.status) else {
            throw EMSCoreError.status(answer.status, RetryPolicy.redirectNote(status: answer.status, location: answer.location) ?? answer.body)
        }
    }

    /// `POST /api/events` or `/api/alerts` with the message's idempotency key; the answer as is
    /// (the deliverer decides what it means).
    public func post(_ message: OutboxMessage) async throws -> Answer {
        let (path, body) = EMSCoreRequests.body(for: message)
        return try await send(request(.POST, path, body: body, idempotencyKey: message.idempotencyKey)).0
    }
}
