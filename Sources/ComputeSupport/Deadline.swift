import Synchronization

/// A call that ran past its deadline (`Deadline.run`).
public struct DeadlineExceeded: Error, CustomStringConvertible, Sendable {
    public let timeout: Duration
    public var description: String { "no answer within \(timeout)" }
}

public enum Deadline {
    /// `body`'s result, or `DeadlineExceeded` once `timeout` has passed, whichever comes first. The
    /// caller is answered at the deadline even if `body` does not stop at once when cancelled (a
    /// connection pool waiting for a server that is down, a transaction whose connection died); it
    /// is cancelled and left to finish. A caller that goes (its task cancelled: a client that
    /// disconnected, a shutdown) cancels `body` too and is answered `CancellationError` at once.
    ///
    /// The one deadline helper of the package: model sources, the stores and EMS Core calls all
    /// use it, so "past its deadline" and "the caller went" mean the same everywhere.
    public static func run<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await run(until: .now + timeout, timeout: timeout, body)
    }

    /// `run(_:_:)` against an instant: several calls share one deadline (retries, a page and its body).
    public static func run<T: Sendable>(
        until deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await run(until: deadline, timeout: deadline - .now, body)
    }

    private static func run<T: Sendable>(
        until deadline: ContinuousClock.Instant, timeout: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                guard race.wait(continuation) else { return }
                let work = Task {
                    do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                }
                let clock = Task {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    race.finish(.failure(DeadlineExceeded(timeout: timeout)))
                }
                race.started(work: work, clock: clock)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    /// Who answers first: the work, the clock or the caller's cancellation. The first resumes the
    /// caller and cancels the other tasks; the rest find nothing to do.
    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var outcome: Result<T, any Error>?
            var tasks: [Task<Void, Never>] = []
        }
        private let state = Mutex(State())

        /// Keeps the caller's continuation; false when the race is already decided (the caller was
        /// cancelled before it started), in which case the caller has been answered.
        func wait(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
            let decided = state.withLock { state -> Result<T, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.continuation = continuation
                return nil
            }
            guard let decided else { return true }
            continuation.resume(with: decided)
            return false
        }

        func started(work: Task<Void, Never>, clock: Task<Void, Never>) {
            let decided = state.withLock { state -> Bool in
                state.tasks = [work, clock]
                return state.outcome != nil
            }
            if decided { work.cancel(); clock.cancel() }
        }

        func finish(_ result: Result<T, any Error>) {
            let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
                guard state.outcome == nil else { return (nil, []) }
                state.outcome = result
                defer { state.continuation = nil }
                return (state.continuation, state.tasks)
            }
            continuation?.resume(with: result)
            for task in tasks { task.cancel() }
        }
    }
}

/// A failed connection attempt in words, from the error's text (NIO's, PostgresNIO's and
/// async-http-client's errors all carry the system's message); nil when none is recognised.
public enum ConnectionFailure {
    public static func words(_ error: any Error) -> String? {
        let text = "\(error) \(String(reflecting: error))".lowercased()
        for (needle, words) in [
            ("Connection refused", "connection refused"), ("connectionRefused", "connection refused"),
            ("connection reset", "the connection was reset"),
            ("No such host", "the host name does not resolve"), ("nodename nor servname", "the host name does not resolve"),
            ("Name or service not known", "the host name does not resolve"),
            ("timed out", "the connection timed out"), ("Network is unreachable", "the network is unreachable"),
            ("No route to host", "no route to the host"),
        ] where text.contains(needle.lowercased()) {
            return words
        }
        return nil
    }
}
