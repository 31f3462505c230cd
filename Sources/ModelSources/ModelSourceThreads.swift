import NIOCore
import NIOPosix

/// The threads model sources block on: SQLite backend-store queries and file-store reads.
///
/// Not NIO's shared blocking pool: that pool also fits forests, scores big detect batches and
/// decodes big `/predict` bodies (`Offload`), and work queued there waits its turn. A model
/// activation, an alias check or a start-up read behind a queue of that work ran past
/// `MLFLOW_HTTP_REQUEST_TIMEOUT` and was refused, though the database answered in milliseconds.
/// Model-source reads are few and short, so two threads of their own are enough, and the
/// deadline then measures the store, not the rest of the process.
enum ModelSourceThreads {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
