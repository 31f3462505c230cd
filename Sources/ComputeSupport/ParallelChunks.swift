import Dispatch
import Synchronization

/// Splitting work across cores: the one place this project hands pointers to other threads.
///
/// Ownership rule, stated once for every caller: memory a chunk reaches through a `SharedPointer`
/// belongs to the caller, must stay valid until `map` returns (it returns only after every chunk
/// has finished), and chunks write disjoint parts of it. `SharedPointer` is `@unchecked Sendable`
/// for that reason and no other.
public enum ParallelChunks {
    /// Splits `0..<count` into `chunks` contiguous ranges (sizes differing by at most one), runs
    /// `body` on each on Dispatch's worker threads, and returns the results in range order.
    /// - Throws: the first chunk's error, in range order, after every chunk has finished.
    public static func map<T: Sendable>(count: Int, chunks: Int, _ body: @Sendable (Range<Int>) throws -> T) throws -> [T] {
        let chunks = max(1, min(chunks, count))
        if chunks == 1 { return [try body(0..<count)] }
        let results = Mutex<[Result<T, any Error>?]>(Array(repeating: nil, count: chunks))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (count * chunk / chunks)..<(count * (chunk + 1) / chunks)
            let result = Result { try body(range) }
            results.withLock { $0[chunk] = result }
        }
        return try results.withLock { $0 }.map { try $0!.get() }
    }
}

/// A pointer handed to `ParallelChunks` workers (see its ownership rule).
public struct SharedPointer<Pointee>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Pointee>
    public init(_ base: UnsafeMutablePointer<Pointee>) { self.base = base }
    public init(_ base: UnsafePointer<Pointee>) { self.base = UnsafeMutablePointer(mutating: base) }
}
