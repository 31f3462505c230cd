import AnomalyDetection
import ComputeSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Storage
import Synchronization

/// A stand-in for EMS Core, the customer's system: the API this service uses (`GET /health`,
/// `POST /api/events`, `POST /api/alerts`, `GET /api/metrics`), bearer-token checked, with faults
/// on demand: down (the port refuses connections), busy (429 or 503 with `Retry-After`), a 400 for
/// chosen messages, slow metrics, a redirect elsewhere, and answers that never end: a slow body (the head, then a byte a
/// second), a huge metrics page, pagination without end. It counts what it accepted by idempotency
/// key and answers 409 to a key it has already accepted, as EMS Core does, and records how each
/// streamed body ended (finished, or the client closed the connection after so many bytes).
final class StandInEMSCore: Sendable {
    struct Received: Sendable {
        let path: String
        let key: String
        let body: [String: any Sendable]
        let at: Date
    }

    struct Faults: Sendable {
        /// The next `busyCount` POSTs answer `busyStatus` with `Retry-After: busyRetryAfter`.
        var busyCount = 0
        var busyStatus = 503
        var busyRetryAfter = 1
        /// Idempotency keys containing this answer 400.
        var rejectKeysContaining: String?
        /// `GET /api/metrics` answers this status instead of data.
        var metricsStatus: Int?
        /// `GET /api/metrics` waits this long first.
        var metricsDelay: Duration = .zero
        /// Every POST waits this long before it is answered (after it is recorded).
        var postDelay: Duration = .zero
        /// POSTs about this asset get a slow body: 201 and its head, then a byte a second, never
        /// finished (until `slowBodyLimit` bytes). Not accepted.
        var slowAssetId: String?
        /// `GET /api/metrics` answers with a slow body.
        var metricsSlowBody = false
        /// `GET /api/metrics` answers one page of about this many bytes (chunked, rows inside
        /// the asked range), `"total_pages": 1`.
        var metricsHugePageBytes: Int?
        /// `GET /api/metrics` says there is always one more page (serving the stored rows' first
        /// page again and again).
        var metricsEndlessPages = false
        /// Every request is answered 307 to this base URL plus its path (a moved EMS Core).
        var redirectTo: String?
    }

    /// A streamed body (slow or huge) as it ended.
    struct Streamed: Sendable {
        let path: String
        let bytes: Int
        /// The write failed: the client had closed the connection.
        let closedByClient: Bool
        let started: Date
        let ended: Date
    }

    /// The longest a slow body goes on (so a stand-in nobody reads from still stops).
    static let slowBodyLimit = 300

    struct State: Sendable {
        var accepted: [String: Received] = [:]
        /// Every POST by key, answered or not.
        var attempts: [String: Int] = [:]
        var duplicates = 0
        var refusedAuth = 0
        var faults = Faults()
        var metrics: [String: [MetricSample]] = [:]
        var metricsPageSize = 500
        var metricsPagesServed = 0
        var healthChecks = 0
        var streamed: [Streamed] = []
    }

    let token: String
    let state = Mutex(State())
    private let server = Mutex<(port: Int, group: ServiceGroup?)>((0, nil))
    private let runner = Mutex<Task<Void, Never>?>(nil)
    let logger: Logger = {
        var logger = Logger(label: "stand-in-ems-core")
        logger.logLevel = .warning
        return logger
    }()

    init(token: String = "ems-test-token") {
        self.token = token
    }

    var port: Int { server.withLock { $0.port } }
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts serving on `port` (0: any free port) and returns once it listens.
    func start(port: Int = 0) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router(), configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "stand-in-ems-core"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        runner.withLock { $0 = Task { try? await group.run() } }
        var bound = 0
        for await p in stream {
            bound = p
            break
        }
        server.withLock { $0 = (bound, group) }
    }

    /// Stops listening: connections are refused until `start(port:)` again.
    func stop() async {
        let group = server.withLock { s in defer { s.group = nil }; return s.group }
        await group?.triggerGracefulShutdown()
        await runner.withLock { $0 }?.value
    }

    /// Down for a while: stop, and come back on the same port.
    func restart() async throws {
        let port = self.port
        try await start(port: port)
    }

    func faults(_ change: (inout Faults) -> Void) { state.withLock { change(&$0.faults) } }

    var accepted: [String: Received] { state.withLock { $0.accepted } }

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health") { request, _ -> Response in
            if let redirect = self.redirect(request) { return redirect }
            self.state.withLock { $0.healthChecks += 1 }
            return Response(status: .ok)
        }
        for path in ["events", "alerts"] {
            router.post("api/\(path)") { request, _ -> Response in try await self.receive(request, path: path) }
        }
        router.get("api/metrics") { request, _ -> Response in try await self.metricsPage(request) }
        return router
    }

    private func authorized(_ request: Request) -> Bool {
        guard request.headers[.authorization] == "Bearer \(token)" else {
            state.withLock { $0.refusedAuth += 1 }
            return false
        }
        return true
    }

    private static func json(_ status: HTTPResponse.Status, _ object: [String: Any], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func receive(_ request: Request, path: String) async throws -> Response {
        if let redirect = redirect(request) { return redirect }
        guard authorized(request) else { return Self.json(.unauthorized, ["error": "unauthorized"]) }
        let body = try await request.body.collect(upTo: 1 << 20)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let key = request.headers[HTTPField.Name("Idempotency-Key")!], object["idempotencyKey"] as? String == key,
            object["assetId"] is String
        else { return Self.json(.badRequest, ["error": "a JSON body with assetId and idempotencyKey matching the Idempotency-Key header"]) }
        let received = Received(path: path, key: key, body: object.mapValues { "\($0)" }, at: Date())
        enum Outcome { case busy(Int, Int), reject, duplicate, created, slow }
        let outcome = state.withLock { s -> Outcome in
            s.attempts[key, default: 0] += 1
            if let slow = s.faults.slowAssetId, object["assetId"] as? String == slow { return .slow }
            if s.faults.busyCount > 0 {
                s.faults.busyCount -= 1
                return .busy(s.faults.busyStatus, s.faults.busyRetryAfter)
            }
            if let marker = s.faults.rejectKeysContaining, key.contains(marker) { return .reject }
            if s.accepted[key] != nil {
                s.duplicates += 1
                return .duplicate
            }
            s.accepted[key] = received
            return .created
        }
        let delay = state.withLock { $0.faults.postDelay }
        if delay > .zero { try await Task.sleep(for: delay) }
        switch outcome {
        case .busy(let status, let after):
            return Self.json(HTTPResponse.Status(code: status), ["error": "busy"], headers: [.retryAfter: String(after)])
        case .reject: return Self.json(.badRequest, ["error": "severity not accepted for this asset"])
        case .duplicate: return Self.json(.conflict, ["error": "idempotency key already seen", "idempotencyKey": key])
        case .created: return Self.json(.created, ["id": UUID().uuidString, "idempotencyKey": key])
        case .slow: return slowBody(.created, path: "/api/\(path)")
        }
    }

    /// 307 to `faults.redirectTo` when set.
    private func redirect(_ request: Request) -> Response? {
        guard let base = state.withLock({ $0.faults.redirectTo }) else { return nil }
        return Response(status: .temporaryRedirect, headers: [.location: base + request.uri.path])
    }

    private func metricsPage(_ request: Request) async throws -> Response {
        if let redirect = redirect(request) { return redirect }
        guard authorized(request) else { return Self.json(.unauthorized, ["error": "unauthorized"]) }
        let (faults, pageSize) = state.withLock { ($0.faults, $0.metricsPageSize) }
        if faults.metricsDelay > .zero { try await Task.sleep(for: faults.metricsDelay) }
        if let status = faults.metricsStatus { return Self.json(HTTPResponse.Status(code: status), ["error": "metrics unavailable"]) }
        if faults.metricsSlowBody { return slowBody(.ok, path: "/api/metrics") }
        let query = request.uri.queryParameters
        guard let asset = query["assetId"].map(String.init), let from = query["from"].flatMap({ ISO8601.parse(String($0)) }),
            let to = query["to"].flatMap({ ISO8601.parse(String($0)) }), let page = query["page"].flatMap({ Int(String($0)) }), page >= 1
        else { return Self.json(.badRequest, ["error": "assetId, from, to and page (from 1) are required"]) }
        let rows = state.withLock { s -> [MetricSample] in
            s.metricsPagesServed += 1
            return (s.metrics[asset] ?? []).filter { $0.timestamp >= from && $0.timestamp < to }.sorted { $0.timestamp < $1.timestamp }
        }
        if let bytes = faults.metricsHugePageBytes { return hugePage(bytes: bytes, from: from, to: to) }
        let pages = faults.metricsEndlessPages ? page + 1 : max(1, (rows.count + pageSize - 1) / pageSize)
        let slice = rows.dropFirst(faults.metricsEndlessPages ? 0 : (page - 1) * pageSize).prefix(pageSize)
        return Self.json(
            .ok,
            [
                "data": slice.map { ["timestamp": ISO8601.format($0.timestamp), "metrics": $0.metrics] }, "page": page, "total_pages": pages,
            ])
    }

    /// `status` and its head at once, then a byte a second: a JSON body that never ends.
    private func slowBody(_ status: HTTPResponse.Status, path: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody { writer in
            try await self.streaming(path: path, &writer) { sent in
                if sent > 0 { try await Task.sleep(for: .seconds(1)) }
                return sent < Self.slowBodyLimit ? ByteBuffer(string: sent == 0 ? "{" : " ") : nil
            }
        })
    }

    /// One metrics page of about `bytes` bytes, chunked (no `Content-Length`), rows a minute apart
    /// from `from`, written as fast as the client reads.
    private func hugePage(bytes: Int, from: Date, to: Date) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
            var row = 0
            try await self.streaming(path: "/api/metrics", &writer) { sent in
                if sent == 0 { return ByteBuffer(string: "{\"data\": [") }
                guard sent < bytes else { return nil }
                var chunk = ""
                while chunk.utf8.count < 64 * 1024 {
                    let time = ISO8601.format(min(from.addingTimeInterval(Double(row) * 60), to.addingTimeInterval(-1)))
                    chunk += "\(row == 0 ? "" : ","){\"timestamp\": \"\(time)\", \"metrics\": {\"cpu\": \(30 + row % 17), \"latency_ms\": \(20 + row % 13)}}"
                    row += 1
                }
                return ByteBuffer(string: chunk)
            } ending: {
                ByteBuffer(string: "], \"page\": 1, \"total_pages\": 1}")
            }
        })
    }

    /// Writes what `next` gives (given the bytes sent so far) until it gives nil, then `ending`,
    /// and records how the body ended: finished, or the client closed the connection.
    private func streaming(
        path: String, _ writer: inout any ResponseBodyWriter, next: (Int) async throws -> ByteBuffer?, ending: () -> ByteBuffer? = { nil }
    ) async throws {
        let started = Date()
        var sent = 0
        do {
            while let chunk = try await next(sent) {
                try await writer.write(chunk)
                sent += chunk.readableBytes
            }
            if let last = ending() { try await writer.write(last) }
            try await writer.finish(nil)
        } catch {
            let closed = !(error is CancellationError)
            state.withLock { $0.streamed.append(Streamed(path: path, bytes: sent, closedByClient: closed, started: started, ended: Date())) }
            throw error
        }
        state.withLock { $0.streamed.append(Streamed(path: path, bytes: sent, closedByClient: false, started: started, ended: Date())) }
    }
}
