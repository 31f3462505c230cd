import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What one connection may cost the server: how long it may take to send a request head, how
/// long it may sit idle between requests, how long a refused body is read and thrown away, and
/// how many connections may be open at once.
///
/// Written by hand: Hummingbird's `idleTimeout` closes idle connections but neither tells a slow
/// head from an idle connection nor counts what it closes; and it does not drain the rest of a
/// body it stops reading when the request says `Connection: close` (it half-closes and waits for
/// the client, which is still blocked sending: both wait forever). NIO has no connection cap.
struct ConnectionLimits: Sendable {
    /// A request head must be complete this long after its first byte (or after the connection opens).
    var headerTimeout: TimeAmount
    /// A connection with no request in progress is closed after this long.
    var idleTimeout: TimeAmount
    /// After the answer to a request whose body was not read, the rest is read and discarded for at
    /// most this long before the connection is closed (nginx's lingering close).
    var lingerTimeout: TimeAmount
    /// Connections beyond this many are closed as soon as they are accepted.
    var maxConnections: Int

    init(configuration: Configuration) {
        headerTimeout = .seconds(Int64(configuration.requestHeaderTimeoutSeconds))
        idleTimeout = .seconds(Int64(configuration.idleTimeoutSeconds))
        lingerTimeout = .seconds(Int64(configuration.lingerSeconds))
        maxConnections = configuration.maxConnections
    }
}

/// The open-connection count and the counters of connections the guard closed.
final class ConnectionCounters: Sendable {
    enum Reason: String, CaseIterable {
        case headerTimeout = "header_timeout"
        case idleTimeout = "idle_timeout"
        case lingerTimeout = "linger_timeout"
        case overCapacity = "over_capacity"
    }

    private let open = Atomic<Int>(0)
    private let gauge: Metrics.Gauge
    private let closed: [String: Metrics.Counter]

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        gauge = Metrics.Gauge(label: "http_connections_open", factory: factory)
        closed = Dictionary(
            uniqueKeysWithValues: Reason.allCases.map {
                ($0.rawValue, Metrics.Counter(label: "http_connections_closed_total", dimensions: [("reason", $0.rawValue)], factory: factory))
            })
    }

    /// Counts a new connection in; false (and nothing counted) when `limit` are already open.
    func admit(limit: Int) -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged {
                gauge.record(current + 1)
                return true
            }
            current = original
        }
        closed[Reason.overCapacity.rawValue]?.increment()
        return false
    }

    func release() {
        gauge.record(open.subtract(1, ordering: .relaxed).newValue)
    }

    func closed(_ reason: Reason) {
        closed[reason.rawValue]?.increment()
    }

    var openConnections: Int { open.load(ordering: .relaxed) }
}

/// Wraps a server child channel (plain HTTP/1.1, under TLS when configured) with the limits:
/// the cap when a connection is accepted, then `ConnectionWatch` at the front of its pipeline.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let limits: ConnectionLimits
    let counters: ConnectionCounters

    struct OverCapacity: Error {}

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard counters.admit(limit: limits.maxConnections) else {
            logger.debug("connection refused: MAX_CONNECTIONS reached", metadata: ["limit": "\(limits.maxConnections)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(OverCapacity())
        }
        let counters = self.counters
        channel.closeFuture.whenComplete { _ in counters.release() }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionWatch(limits: limits, counters: counters))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the connection limits.
    static func guardedHTTP1(limits: ConnectionLimits, counters: ConnectionCounters) -> HTTPServerBuilder {
        .init { responder in
            GuardedChannel(
                base: HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestWatch()])),
                limits: limits, counters: counters)
        }
    }
}

/// The front of a connection's pipeline (after TLS): sees the raw bytes, keeps the timers, and
/// after a half-close of the output reads and discards what the client still sends.
/// Event-loop bound, like every channel handler.
final class ConnectionWatch: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum Phase {
        /// No request in progress; `sawBytes` once the next request has begun to arrive.
        case waiting(sawBytes: Bool)
        case inRequest
        case lingering
    }

    private let limits: ConnectionLimits
    private let counters: ConnectionCounters
    private var phase = Phase.waiting(sawBytes: false)
    private var requestsInProgress = 0
    /// When the connection is closed unless something happens first, and why; nil while a request
    /// is being handled.
    private var deadline: (at: NIODeadline, reason: ConnectionCounters.Reason)?
    /// When the next request's first bytes arrived (its head must be whole `headerTimeout` after).
    private var firstByteAt: NIODeadline?
    /// The one timer, and when it fires. It is not moved for every request: a timer that fires
    /// before the deadline re-arms itself for the rest, and one that fires with nothing due does
    /// nothing. (Scheduling and cancelling a timer two or three times per keep-alive request cost
    /// the 1-reading `/predict` a few percent of its CPU: allocations and the event loop's
    /// priority queue.)
    private var timer: Scheduled<Void>?
    private var armedAt: NIODeadline?

    init(limits: ConnectionLimits, counters: ConnectionCounters) {
        self.limits = limits
        self.counters = counters
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { setDeadline(context, .now() + limits.headerTimeout, reason: .headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        setDeadline(context, .now() + limits.headerTimeout, reason: .headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .lingering:
            return  // discarded: the answer is written, the connection is closing
        case .waiting(sawBytes: false):
            // The head's deadline counts from now; it is set at the end of this read, only if the
            // head is not whole by then (most heads arrive in the read that starts them).
            phase = .waiting(sawBytes: true)
            firstByteAt = .now()
        case .waiting(sawBytes: true), .inRequest:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .lingering = phase {
            // The handlers behind stopped asking for data; keep reading to drain the client.
            context.read()
            return
        }
        if case .waiting(sawBytes: true) = phase, let firstByteAt, deadline?.reason != .headerTimeout {
            setDeadline(context, firstByteAt + limits.headerTimeout, reason: .headerTimeout)
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .lingering = phase, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)  // the client has sent everything and read the answer
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output {
            phase = .lingering
            setDeadline(context, .now() + limits.lingerTimeout, reason: .lingerTimeout)
            context.close(mode: mode, promise: promise)
            context.read()
            return
        }
        context.close(mode: mode, promise: promise)
    }

    /// From `RequestWatch`: a request head is complete.
    func requestStarted(context: ChannelHandlerContext) {
        requestsInProgress += 1
        if case .lingering = phase { return }
        phase = .inRequest
        deadline = nil
        firstByteAt = nil
    }

    /// From `RequestWatch`: an answer is complete.
    func responseEnded(context: ChannelHandlerContext) {
        requestsInProgress = max(0, requestsInProgress - 1)
        guard requestsInProgress == 0, case .inRequest = phase else { return }
        phase = .waiting(sawBytes: false)
        setDeadline(context, .now() + limits.idleTimeout, reason: .idleTimeout)
    }

    /// Makes `at` the deadline; the timer moves only when it would fire after it.
    private func setDeadline(_ context: ChannelHandlerContext, _ at: NIODeadline, reason: ConnectionCounters.Reason) {
        deadline = (at, reason)
        if let armedAt, armedAt <= at { return }
        arm(context, at: at)
    }

    private func arm(_ context: ChannelHandlerContext, at: NIODeadline) {
        timer?.cancel()
        armedAt = at
        let bound = NIOLoopBound((watch: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: at) { bound.value.watch.fire(bound.value.context) }
    }

    private func fire(_ context: ChannelHandlerContext) {
        timer = nil
        armedAt = nil
        guard let deadline else { return }
        if deadline.at <= .now() {
            self.deadline = nil
            counters.closed(deadline.reason)
            context.close(promise: nil)
        } else {
            arm(context, at: deadline.at)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
        armedAt = nil
        deadline = nil
    }
}

/// Behind the HTTP codec: tells `ConnectionWatch` when a request head is complete and when its
/// answer has been written.
final class RequestWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var watch: ConnectionWatch?
    private var watchContext: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        watch = try? context.pipeline.syncOperations.handler(type: ConnectionWatch.self)
        watchContext = try? context.pipeline.syncOperations.context(handlerType: ConnectionWatch.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watch = nil
        watchContext = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data), let watch, let watchContext { watch.requestStarted(context: watchContext) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), let watch, let watchContext { watch.responseEnded(context: watchContext) }
        context.write(data, promise: promise)
    }
}

#if canImport(Glibc)
import Glibc

extension ConnectionLimits {
    /// Raises the process's open-file limit to its hard limit (as nginx's worker_rlimit_nofile
    /// does), so `maxConnections` is not cut short by a default soft limit of 1024; warns when even
    /// the hard limit is below what the cap needs.
    func raiseFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let needed = rlim_t(maxConnections + 256)
        if limit.rlim_cur < needed {
            logger.warning(
                "the open-file limit is below MAX_CONNECTIONS plus what the process needs besides; connections past it are refused by the kernel",
                metadata: ["limit": "\(limit.rlim_cur)", "max_connections": "\(maxConnections)"])
        }
    }
}
#endif
