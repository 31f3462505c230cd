import HummingbirdCore
import Logging
import NIOCore

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
