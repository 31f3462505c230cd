import Hummingbird
import NIOCore
import Synchronization

/// Thrown by `untilCallerGoes` when the connection closed before the work finished.
struct CallerGone: Error, CustomStringConvertible {
    var description: String { "the caller went before the answer" }
}

extension AppRequestContext {
    /// Runs `operation`, cancelled when the request's connection closes first (the caller went,
    /// or nginx closed it for a client that went); then throws `CallerGone`. For work whose only
    /// point is its answer, such as the download and check of a model to activate.
    ///
    /// The signal is `ConnectionWatch`'s: the server allows remote half-closure, so a channel
    /// stays open after its client went until the answer is written, and only the inbound side's
    /// closing says the client went. Written here rather than with Hummingbird's
    /// `consumeWithCancellationOnInboundClose`, which traps on a request body that was collected or
    /// replaced (what every JSON route does first) and on the bodies of router tests. Without the
    /// watch (router tests), `operation` simply runs.
    func untilCallerGoes<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let inboundClosed = InboundClosure.future(for: channel) else { return try await operation() }
        let (closed, signal) = AsyncStream<Void>.makeStream()
        inboundClosed.whenComplete { _ in signal.finish() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                // Ends when the connection closes, or when cancelled because `operation` finished.
                for await _ in closed {}
                if Task.isCancelled { return nil }
                throw CallerGone()
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let value = result { return value }
            }
            throw CallerGone()
        }
    }
}

/// The inbound-closed signal of each open connection, by channel: `ConnectionWatch` registers it
/// when the connection opens and removes it when the connection closes (one lock per connection,
/// none per request).
enum InboundClosure {
    private static let futures = Mutex<[ObjectIdentifier: EventLoopFuture<Void>]>([:])

    static func register(_ channel: any Channel, _ future: EventLoopFuture<Void>) {
        futures.withLock { $0[ObjectIdentifier(channel)] = future }
    }

    static func remove(_ channel: any Channel) {
        _ = futures.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    static func future(for channel: any Channel) -> EventLoopFuture<Void>? {
        futures.withLock { $0[ObjectIdentifier(channel)] }
    }
}
