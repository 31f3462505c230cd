import NIOCore

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
    /// Completed when the client's side closes (it sent its last byte, or the connection is gone).
    private var inboundClosed: EventLoopPromise<Void>?

    init(limits: ConnectionLimits, counters: ConnectionCounters) {
        self.limits = limits
        self.counters = counters
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { setDeadline(context, .now() + limits.headerTimeout, reason: .headerTimeout) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        inboundClosed = promise
        InboundClosure.register(context.channel, promise.futureResult)
    }

    /// The client is gone for the work of a request in progress: `untilCallerGoes` stops it.
    private func closeInbound(_ channel: any Channel) {
        guard let promise = inboundClosed else { return }
        inboundClosed = nil
        InboundClosure.remove(channel)
        promise.succeed()
    }

    func channelActive(context: ChannelHandlerContext) {
        setDeadline(context, .now() + limits.headerTimeout, reason: .headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        closeInbound(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        closeInbound(context.channel)
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
        if let event = event as? ChannelEvent, event == .inputClosed {
            closeInbound(context.channel)
            if case .lingering = phase {
                context.close(promise: nil)  // the client has sent everything and read the answer
                return
            }
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
