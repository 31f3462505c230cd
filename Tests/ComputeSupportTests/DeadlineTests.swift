import ComputeSupport
import Dispatch
import Synchronization
import Testing

/// `Deadline.run`: the work's answer, the deadline's, or the caller's cancellation, whichever
/// comes first, and the work cancelled whenever it is not the one that answered.
@Suite("Deadline")
struct DeadlineTests {
    @Test func testTheWorksAnswerAndItsErrorPassThrough() async throws {
        #expect(try await Deadline.run(.seconds(600)) { 42 } == 42)
        struct Broken: Error {}
        await #expect(throws: Broken.self) { try await Deadline.run(.seconds(600)) { () async throws -> Int in throw Broken() } }
    }

    // Wall-clock bounds are kept loose or replaced by order: the test process runs every suite at
    // once, and synchronous suites can hold Swift's concurrency pool (two threads here) for
    // many seconds, which delays any answer without saying anything about Deadline.

    @Test func testWorkPastTheDeadlineIsAnsweredAtItAndCancelled() async throws {
        let cancelled = Mutex(false)
        let start = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            try await Deadline.run(.milliseconds(200)) {
                do { try await Task.sleep(for: .seconds(600)) } catch { cancelled.withLock { $0 = true }; throw error }
            }
        }
        #expect(ContinuousClock.now - start >= .milliseconds(200), "not before the deadline")
        try await waitUntil { cancelled.withLock { $0 } }
    }

    /// Work that ignores cancellation (here a wait on a GCD timer, which holds no thread): the
    /// caller is answered at the deadline, before the work ends.
    @Test func testWorkThatIgnoresCancellationDoesNotHoldTheCaller() async throws {
        let finished = Mutex(false)
        await #expect(throws: DeadlineExceeded.self) {
            try await Deadline.run(.milliseconds(100)) {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().asyncAfter(deadline: .now() + 600) { done.resume() }
                }
                finished.withLock { $0 = true }
                return 1
            }
        }
        #expect(finished.withLock { $0 } == false, "answered before the work ended")
    }

    /// A caller that goes (a client disconnected, a shutdown) is answered at once and its work is
    /// cancelled: nothing waits for the deadline.
    @Test func testACancelledCallerCancelsTheWork() async throws {
        let cancelled = Mutex(false)
        let started = Mutex(false)
        let caller = Task {
            try await Deadline.run(.seconds(600)) {
                started.withLock { $0 = true }
                do { try await Task.sleep(for: .seconds(600)) } catch { cancelled.withLock { $0 = true }; throw error }
            }
        }
        try await waitUntil { started.withLock { $0 } }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        try await waitUntil { cancelled.withLock { $0 } }
    }

    @Test func testACallerCancelledBeforeItStartsIsAnsweredWithoutRunningTheWork() async throws {
        let ran = Mutex(false)
        let caller = Task {
            while !Task.isCancelled { await Task.yield() }
            return try await Deadline.run(.seconds(60)) { ran.withLock { $0 = true }; return 1 }
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        try await Task.sleep(for: .milliseconds(100))
        #expect(ran.withLock { $0 } == false)
    }

    @Test func testCallsShareOneInstant() async throws {
        let later = ContinuousClock.now + .seconds(600)
        #expect(try await Deadline.run(until: later) { 1 } == 1)
        let soon = ContinuousClock.now + .milliseconds(50)
        await #expect(throws: DeadlineExceeded.self) {
            try await Deadline.run(until: soon) { try await Task.sleep(for: .seconds(600)); return 2 }
        }
        #expect(ContinuousClock.now >= soon)
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let end = ContinuousClock.now + .seconds(300)
        while !condition() {
            #expect(ContinuousClock.now < end, "condition not met within 300 s")
            if ContinuousClock.now >= end { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
