import Foundation
import Synchronization

/// Failed password checks in memory (one process).
public final class MemoryLoginFailureStore: LoginFailureStore {
    private let failed = Mutex<[String: [Date]]>([:])

    public init() {}

    public func failures(keys: [String], windowSeconds: Int) async throws -> [String: (count: Int, newestAgeSeconds: Double)] {
        let now = Date()
        return failed.withLock { table in
            var out: [String: (count: Int, newestAgeSeconds: Double)] = [:]
            for key in keys {
                let recent = table[key, default: []].filter { now.timeIntervalSince($0) < Double(windowSeconds) }
                if let newest = recent.max() { out[key] = (recent.count, now.timeIntervalSince(newest)) }
            }
            return out
        }
    }

    public func recordFailure(keys: [String], windowSeconds: Int) async throws {
        let now = Date()
        failed.withLock { table in
            for key in keys {
                table[key] = table[key, default: []].filter { now.timeIntervalSince($0) < Double(windowSeconds) } + [now]
            }
        }
    }
}
