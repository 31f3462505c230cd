import ComputeSupport

/// `body`'s result, or `EMSCoreError.timedOut(what)` once `deadline` has passed, whichever comes
/// first (`Deadline.run`: the work is cancelled at the deadline, and a caller that goes cancels it).
///
/// Why not async-http-client's own deadline alone: `execute(_:deadline:)` (1.x) cancels its
/// deadline task when it returns the response head, so the body then streams for as long as the
/// server likes (a byte a second kept a request open for minutes). Its `timeout.read` is per read,
/// which a byte a second also satisfies. The deadline here covers the head and the body; an
/// async-http-client request cancelled mid-body closes its connection at once.
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ what: @escaping @Sendable () -> String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    do {
        return try await Deadline.run(until: deadline, body)
    } catch is DeadlineExceeded {
        throw EMSCoreError.timedOut(what())
    }
}
