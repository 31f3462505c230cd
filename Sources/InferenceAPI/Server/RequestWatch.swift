import NIOCore
import NIOHTTPTypes

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
