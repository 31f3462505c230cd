import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The one rule for where work runs: work expected to take longer than `budget` leaves the event
/// loop for NIO's blocking thread pool; shorter work stays, because the hop there and back costs
/// more than it saves, and an event loop held for `budget` delays every other connection it serves
/// by no more than that. Services call `run`; nothing else moves work. Model sources block on
/// threads of their own, `ModelSourceThreads`, so a swap never queues behind this pool's work.
enum Offload {
    /// Half a millisecond: the 1-reading p50 the service answers in, so no request waits longer
    /// than one more such answer behind another's work.
    static let budgetMicroseconds = 500.0

    enum Work: Sendable {
        /// Hazard predictions through the C API: about 6.7 µs a row on one thread
        /// (`inference-api bench-limits`), so 75 rows reach the budget.
        case predict(rows: Int)
        /// A `/predict` body decoded, predicted and answered in one trip: about 790 bytes and
        /// 8 µs (decode 1.4 + predict 6.7) a reading, so about 48 KiB reaches the budget.
        case predictBody(bytes: Int)
        /// Anomaly scoring of a detect batch: the forest alone scores 3000 samples in 1.55 ms
        /// (`make bench-forest`); the statistical detectors and feature windows come on top and
        /// are not timed apart, so the estimate is 1.5 µs a sample (about 330 samples).
        case detect(samples: Int)
        /// TreeSHAP explanations: about 70 µs a reading (`inference-api bench-limits`), so 8 readings.
        case explain(rows: Int)
        /// Hazard-episode bookkeeping grouping queued readings by module: about 0.1 µs a reading
        /// (a hash, an append, a timestamp parse), so 5,000 readings. With the default task
        /// executor the drain's task runs on an event loop, where a queue-full of grouping held
        /// every connection of that loop (p99 at 100 readings 13 ms with `module_id`, 2.2 without).
        case groupReadings(Int)
        /// An idempotency receipt gzip-compressed at zlib's fastest level: about 0.004 µs a byte of
        /// JSON (1.45 MB in 5.3 ms, IdempotencyReceiptTests' log), so about 125 KB; and inflated
        /// back on a retry: about 0.02 µs a stored byte (151 KB in 2.9 ms), so about 25 KB stored.
        case compress(bytes: Int)
        case decompress(bytes: Int)
        /// Blocking by nature: fitting a forest, reading an MLflow store from disk, loading a model.
        case blocking
        /// Work nobody waits for, that may wait for idle CPU: a shadow challenger's scoring. It runs
        /// on one thread of its own under Linux's SCHED_IDLE policy (else at nice 19), so under
        /// load it takes only what the event loops and the blocking pool leave, and never delays
        /// an answer; its queue (the caller's) fills and drops instead.
        case background
    }

    static func estimatedMicroseconds(_ work: Work) -> Double {
        switch work {
        case .predict(let rows): Double(rows) * 6.7
        case .predictBody(let bytes): Double(bytes) / 790 * 8.1
        case .detect(let samples): Double(samples) * 1.5
        case .explain(let rows): Double(rows) * 70
        case .groupReadings(let readings): Double(readings) * 0.1
        case .compress(let bytes): Double(bytes) * 0.004
        case .decompress(let bytes): Double(bytes) * 0.02
        case .blocking, .background: .infinity
        }
    }

    static func leavesEventLoop(_ work: Work) -> Bool { estimatedMicroseconds(work) >= budgetMicroseconds }

    /// Runs `body` where `work` belongs.
    static func run<T: Sendable>(_ work: Work, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        if case .background = work { return try await background.runIfActive(body) }
        if leavesEventLoop(work) { return try await NIOThreadPool.singleton.runIfActive(body) }
        return try body()
    }

    /// The `.background` thread: one, started on first use, put under SCHED_IDLE by its first task
    /// (on Linux the policy and nice value are each thread's own). Lives as long as the process.
    private static let background: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        pool.submit { _ in
            #if canImport(Glibc)
            // SCHED_IDLE (5 in <linux/sched.h>; Swift's Glibc does not export the name): any
            // runnable thread of normal policy preempts this one at once. Nice 19 alone was not
            // enough: a waking event loop waited out the background thread's slice (make bench
            // run 16: p99 at 1 reading +119 %).
            var parameters = sched_param()
            if sched_setscheduler(0, 5, &parameters) != 0 {
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            }
            #endif
        }
        return pool
    }()
}
