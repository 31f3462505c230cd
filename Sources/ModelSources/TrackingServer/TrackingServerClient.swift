import Artifacts
import AsyncHTTPClient
import ComputeSupport
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The HTTP side of a tracking server: MLflow's REST API (`/api/2.0/mlflow/...`) and its artifact
/// proxy (`/api/2.0/mlflow-artifacts/artifacts/...`), through async-http-client.
///
/// Credentials are MLflow's own variables: `MLFLOW_TRACKING_TOKEN` (bearer), else
/// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (basic). TLS certificates are verified
/// (`MLFLOW_TRACKING_SERVER_CERT_PATH` adds a CA bundle; `MLFLOW_TRACKING_INSECURE_TLS=true`
/// turns verification off, as in MLflow). Every request has a connect and a read timeout; a
/// refused connection, a timeout, 429 and 502/503/504 are retried a bounded number of times with
/// a growing pause, anything else is answered at once.
final class TrackingServerClient: Sendable {
    struct Settings: Sendable {
        var baseURL: String
        var token: String?
        var username: String?
        var password: String?
        var insecureTLS = false
        var caFile: String?
        var connectTimeout: TimeAmount = .seconds(5)
        var requestTimeout: TimeAmount = .seconds(30)
        /// Attempts per request (1 = no retry).
        var attempts = 3
        /// `MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS`: follow a redirect to another host (without
        /// credentials); by default only the same origin's are followed.
        var redirectsToOtherHosts = false
        var retryPause: Duration = .milliseconds(200)
    }

    let settings: Settings
    private let client: HTTPClient
    private let authorization: String?

    init(settings: Settings) throws {
        self.settings = settings
        self.client = Self.client(for: settings)
        if let token = settings.token {
            authorization = "Bearer \(token)"
        } else if let username = settings.username, let password = settings.password {
            authorization = "Basic \(Data("\(username):\(password)".utf8).base64EncodedString())"
        } else {
            authorization = nil
        }
    }

    /// Clients live as long as the process, one per TLS and timeout configuration, as
    /// `HTTPClient.shared` does: a source may be dropped without being closed (a failed start-up,
    /// a test), and async-http-client traps on a client deinitialised before `shutdown()`.
    private static let clients = Mutex<[String: HTTPClient]>([:])

    private static func client(for settings: Settings) -> HTTPClient {
        let key = "\(settings.insecureTLS) \(settings.caFile ?? "-") \(settings.connectTimeout.nanoseconds) \(settings.requestTimeout.nanoseconds)"
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if settings.insecureTLS { tls.certificateVerification = .none }
            if let caFile = settings.caFile { tls.trustRoots = .file(caFile) }
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow,
                timeout: .init(connect: settings.connectTimeout, read: settings.requestTimeout))
            // A refused connection fails the request at once: `withRetries` decides about retries,
            // within the request's time; the pool would otherwise retry until the connect timeout.
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// The server without credentials or path, for messages.
    var printableBase: String {
        guard var components = URLComponents(string: settings.baseURL) else { return "the tracking server" }
        components.user = nil
        components.password = nil
        return components.string ?? "the tracking server"
    }

    // MARK: - REST

    /// `GET /api/2.0/mlflow/<path>?<query>`, decoded.
    func get<T: Decodable>(_ path: String, query: [String: String] = [:], as type: T.Type) async throws -> T {
        var components = URLComponents()
        components.queryItems = query.isEmpty ? nil : query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        // '+' is a space to the server's form decoder: encode it too.
        let encodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let url = "\(base)/api/2.0/mlflow/\(path)" + (encodedQuery.map { "?\($0)" } ?? "")
        return try decode(try await send(method: .GET, url: url, body: nil), as: type, path: path)
    }

    /// `POST /api/2.0/mlflow/<path>` with a JSON body, decoded. Only search endpoints (they read).
    func post<T: Decodable>(_ path: String, body: some Encodable, as type: T.Type) async throws -> T {
        let data = try JSONEncoder().encode(body)
        return try decode(try await send(method: .POST, url: "\(base)/api/2.0/mlflow/\(path)", body: data), as: type, path: path)
    }

    private var base: String {
        settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL
    }

    private func decode<T: Decodable>(_ data: Data, as type: T.Type, path: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ModelSourceError.protocolError("\(printableBase): unexpected answer to \(path): \(error)")
        }
    }

    private func send(method: HTTPMethod, url: String, body: Data?) async throws -> Data {
        try await withRetries(url: url) {
            let response = try await self.execute(method, url, body: body)
            let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
            let data = Data(buffer: bytes)
            return (200..<300).contains(response.status.code) ? .success(data) : .failed(response.status, data, retryAfter: Self.retryAfter(response))
        }
    }

    /// One exchange, following redirects here rather than in async-http-client, which follows
    /// them to any host: on the same origin up to `Redirects.maximum`, to another host only with
    /// `MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS` and then without our credentials (as MLflow's own
    /// client, through requests, drops them).
    private func execute(_ method: HTTPMethod, _ url: String, body: Data?) async throws -> HTTPClientResponse {
        var current = url
        var credentials = true
        for _ in 0...Redirects.maximum {
            var request = HTTPClientRequest(url: current)
            request.method = method
            request.headers.add(name: "User-Agent", value: "inference-api")
            request.headers.add(name: "Accept", value: "application/json")
            if credentials, let authorization { request.headers.add(name: "Authorization", value: authorization) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response = try await client.execute(request, timeout: settings.requestTimeout)
            guard Redirects.isRedirect(response.status.code), let location = response.headers.first(name: "location") else { return response }
            _ = try? await response.body.collect(upTo: 64 * 1024)
            do {
                let next = try Redirects.target(
                    from: current, location: location, otherHosts: settings.redirectsToOtherHosts, setting: "MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS")
                current = next.url
                credentials = credentials && next.sameOrigin
            } catch let refused as Redirects.Refused {
                throw ModelSourceError.protocolError("\(printablePath(url)): \(refused)")
            }
        }
        throw ModelSourceError.protocolError("\(printablePath(url)): more than \(Redirects.maximum) redirects")
    }

    // MARK: - Artifacts

    /// A directory listing of the artifact proxy: `[(path relative to the root, is dir, size)]`.
    func listArtifacts(_ path: String) async throws -> [ArtifactEntry] {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "path", value: path)]
        let url = "\(base)/api/2.0/mlflow-artifacts/artifacts?\(components.percentEncodedQuery ?? "")"
        let listing = try decode(try await send(method: .GET, url: url, body: nil), as: ArtifactListing.self, path: "mlflow-artifacts list")
        return listing.files ?? []
    }

    /// The least speed a download keeps after its first `MLFLOW_HTTP_REQUEST_TIMEOUT`: a file may
    /// take that timeout plus one second per MiB it may hold, no longer. A server that trickles
    /// bytes (a byte every 2 s never trips a read timeout) is stopped by it.
    static let slowestBytesPerSecond = 1 << 20

    /// Streams one artifact to `file`, hashing as it goes. Returns its size and SHA-256 (hex).
    /// More than `limit` bytes (what the listing said, or what is left of `MODEL_MAX_ARTIFACT_BYTES`)
    /// stops it at once, before they are written; the whole exchange, retries included, ends by
    /// `MLFLOW_HTTP_REQUEST_TIMEOUT` + `limit` at `slowestBytesPerSecond`.
    func download(_ path: String, to file: URL, limit: Int) async throws -> (size: Int, sha256: String) {
        let encoded = path.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }
            .joined(separator: "/")
        let url = "\(base)/api/2.0/mlflow-artifacts/artifacts/\(encoded)"
        let allowance = Duration.nanoseconds(settings.requestTimeout.nanoseconds) + .seconds(Double(limit) / Double(Self.slowestBytesPerSecond))
        let what = "artifact \(MLflowStore.printable(path))"
        return try await withRetries(url: url, within: allowance, doing: what) {
            let response = try await self.execute(.GET, url, body: nil)
            guard response.status == .ok else {
                let bytes = try await response.body.collect(upTo: 64 * 1024)
                return .failed(response.status, Data(buffer: bytes), retryAfter: Self.retryAfter(response))
            }
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw ModelSourceError.configuration("cannot write \(file.path) (MODEL_CACHE_DIR)")
            }
            let handle = try FileHandle(forWritingTo: file)
            defer { try? handle.close() }
            var digest = SHA256()
            var size = 0
            for try await chunk in response.body {
                guard size + chunk.readableBytes <= limit else {
                    throw ModelSourceError.protocolError("\(what): the server sent more than the \(limit) bytes it may hold (listed size or MODEL_MAX_ARTIFACT_BYTES); download stopped")
                }
                let data = Data(buffer: chunk)
                digest.update(data: data)
                size += data.count
                try handle.write(contentsOf: data)
            }
            return .success((size, ArtifactCache.hex(digest.finalize())))
        }
    }

    /// One try: a result, or a status (with its body and `Retry-After`) for `withRetries` to judge.
    private enum Attempt<T: Sendable>: Sendable {
        case success(T)
        case failed(HTTPResponseStatus, Data, retryAfter: Duration?)
    }

    private static func retryAfter(_ response: HTTPClientResponse) -> Duration? {
        RetryAfter.seconds(response.headers.first(name: "retry-after")).map { .seconds($0) }
    }

    /// Runs `attempt` until it answers something other than a retryable failure, at most
    /// `settings.attempts` times; maps the final status to an error. All attempts, head and body,
    /// end within `within` (a REST call: `settings.requestTimeout`), so a source that cannot be
    /// reached, or answers too slowly, is reported within that time whatever the retries.
    private func withRetries<T: Sendable>(
        url: String, within: Duration? = nil, doing what: String? = nil, _ attempt: @escaping @Sendable () async throws -> Attempt<T>
    ) async throws -> T {
        let allowance = within ?? .nanoseconds(settings.requestTimeout.nanoseconds)
        let deadline = ContinuousClock.now + allowance
        var pause = settings.retryPause
        var lastFailure = ""
        var tries = 0
        // The server's `Retry-After` (429, 503): the next try waits that long, if the deadline allows.
        var asked: Duration?
        for number in 1...max(1, settings.attempts) {
            if number > 1 {
                let wait = max(pause, asked ?? .zero)
                guard ContinuousClock.now + wait < deadline else {
                    if let asked, asked > pause {
                        lastFailure += ", and it asked to retry after \(asked), past the deadline"
                    }
                    break
                }
                try await Task.sleep(for: wait)
                pause *= 2
                asked = nil
            }
            tries = number
            let status: HTTPResponseStatus, body: Data
            do {
                let result = try await Deadline.run(until: deadline) { try await attempt() }
                switch result {
                case .success(let value): return value
                case .failed(let s, let b, let retryAfter):
                    (status, body) = (s, b)
                    asked = retryAfter
                }
            } catch let error as HTTPClientError where error == .connectTimeout {
                throw ModelSourceError.unreachable("\(printableBase) cannot be reached (no connection within \(settings.connectTimeout))")
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                lastFailure = noAnswer
                continue
            } catch is DeadlineExceeded {
                if let what {
                    let seconds = Double(allowance.components.seconds) + Double(allowance.components.attoseconds) / 1e18
                    throw ModelSourceError.unreachable(
                        "\(printableBase): \(what) did not arrive within \(String(format: "%.1f", seconds)) s (MLFLOW_HTTP_REQUEST_TIMEOUT plus a second per MiB it may hold)")
                }
                lastFailure = noAnswer
                break
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as ModelSourceError {
                throw error
            } catch let error as NIOSSLError {
                // Not transient: a certificate not trusted now is not trusted on the next try.
                throw ModelSourceError.unreachable("\(printableBase): \(Self.tlsWords(error))")
            } catch {
                lastFailure = ConnectionFailure.words(error) ?? "\(error)"
                continue
            }
            switch status.code {
            case 429, 502, 503, 504:
                lastFailure = "HTTP \(status.code)"
                continue
            case 401, 403:
                throw ModelSourceError.unauthorized(
                    "\(printableBase) answered \(status.code) \(status.reasonPhrase): check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD")
            default:
                throw Self.error(status: status, body: body, url: printablePath(url))
            }
        }
        throw ModelSourceError.unreachable(
            "\(printableBase) cannot be reached: \(lastFailure) (\(tries) attempt\(tries == 1 ? "" : "s"))")
    }

    /// A TLS failure in words, with what to set.
    static func tlsWords(_ error: NIOSSLError) -> String {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "its TLS certificate is not trusted (CERTIFICATE_VERIFY_FAILED): set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle that signed it, or MLFLOW_TRACKING_INSECURE_TLS=true to skip verification"
        }
        return "the TLS handshake failed (\(UpstreamText.excerpt(text))); MLFLOW_TRACKING_SERVER_CERT_PATH and MLFLOW_TRACKING_INSECURE_TLS configure TLS"
    }

    private var noAnswer: String {
        "no answer within \(Duration.nanoseconds(settings.requestTimeout.nanoseconds)) (MLFLOW_HTTP_REQUEST_TIMEOUT)"
    }

    private func printablePath(_ url: String) -> String {
        url.hasPrefix(base) ? String(url.dropFirst(base.count)) : url
    }

    /// MLflow's error body `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}`.
    private static func error(status: HTTPResponseStatus, body: Data, url: String) -> any Error {
        struct MLflowError: Decodable {
            let error_code: String?
            let message: String?
        }
        let decoded = try? JSONDecoder().decode(MLflowError.self, from: body)
        let message = UpstreamText.excerpt(decoded?.message ?? String(decoding: body.prefix(4096), as: UTF8.self))
        if status == .notFound || decoded?.error_code == "RESOURCE_DOES_NOT_EXIST" {
            return ArtifactError(.notFound, message.isEmpty ? "not found: \(url)" : message)
        }
        if status == .badRequest {
            return ArtifactError(.invalidReference, message)
        }
        return ModelSourceError.protocolError("HTTP \(status.code) from \(url): \(message)")
    }
}

struct ArtifactEntry: Decodable, Sendable {
    let path: String
    let is_dir: Bool?
    let file_size: FlexibleInt?
}

struct ArtifactListing: Decodable {
    let files: [ArtifactEntry]?
}
