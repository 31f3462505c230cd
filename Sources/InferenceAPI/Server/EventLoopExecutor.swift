import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `TASK_EXECUTOR=event-loops`: SwiftNIO's event loops run Swift's tasks, and run them as Swift's
/// own global executor does: without isolation (the generic executor).
///
/// Written here rather than with NIO's `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`,
/// which runs every job with the event loop as its serial executor: then every nonisolated async
/// function a request passes through (each middleware, Hummingbird's responder chain, each body
/// read) sees another executor than the generic one it asks for, and hops, through the event
/// loop's task queue and back to the same thread. Counted with a uprobe on
/// `swift::AsyncTask::flagAsAndEnqueueOnExecutor`: 100 hops per `/predict` of one reading that
/// way, 1 with Swift's pool, and as many with this. Swift's own pool pays that one hop across
/// threads each way instead.
///
/// How: the concurrency runtime's global-enqueue hook (`swift_task_enqueueGlobal_hook`, the one
/// NIO sets) hands each job to an event loop of NIO's singleton group (the current one when called
/// on one: `any()` is sticky), which runs it with `swift_job_run` on the generic executor, as the
/// runtime's default global executor does (one closure allocated a job: about one a request).
/// Delayed jobs (`Task.sleep`) keep the runtime's timers and resume on its pool, as with NIO's.
/// The jobs it hands over are counted (`event_loop_jobs_total` in `/metrics`), so a change that
/// brings the hops back shows, and `EventLoopExecutorTests` fails on it.
public enum EventLoopExecutor {
    private typealias Original = @convention(thin) (UnownedJob) -> Void
    private typealias Hook = @convention(thin) (UnownedJob, Original) -> Void

    /// Jobs handed to the event loops since start-up (0 under `TASK_EXECUTOR=global`).
    static let jobs = Atomic<Int>(0)

    /// Installs the hook once, before the server starts; false (and nothing changed) when this
    /// runtime does not have it or lays its executor reference out differently.
    public static func install() -> Bool {
        #if canImport(Glibc)
        guard MemoryLayout<UnownedSerialExecutor>.size == 2 * MemoryLayout<UInt>.size,
            MemoryLayout<Hook>.size == MemoryLayout<UnsafeRawPointer>.size,
            let slot = dlsym(dlopen(nil, RTLD_NOW), "swift_task_enqueueGlobal_hook")
        else { return false }
        // An aligned pointer-sized store: the runtime reads the slot on each enqueue.
        slot.assumingMemoryBound(to: Hook?.self).pointee = { job, _ in enqueueOnEventLoop(job) }
        return true
        #else
        return false
        #endif
    }
}

/// `SerialExecutorRef::generic()`: no identity, no implementation.
private let genericExecutor = unsafeBitCast((UInt(0), UInt(0)), to: UnownedSerialExecutor.self)

private func enqueueOnEventLoop(_ job: UnownedJob) {
    EventLoopExecutor.jobs.add(1, ordering: .relaxed)
    MultiThreadedEventLoopGroup.singleton.any().execute { runJob(job, genericExecutor) }
}

/// The runtime's entry that runs a job on an executor (what `UnownedJob.runSynchronously(on:)`
/// calls); called directly because no public API names the generic executor.
@_silgen_name("swift_job_run")
private func runJob(_ job: UnownedJob, _ executor: UnownedSerialExecutor)
