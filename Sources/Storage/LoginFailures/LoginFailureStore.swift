import Foundation

/// Failed password checks, counted where every replica counts (PostgreSQL), or in this process.
public protocol LoginFailureStore: Sendable {
    /// Failures per key within the last `windowSeconds`, with the newest one's age in seconds.
    func failures(keys: [String], windowSeconds: Int) async throws -> [String: (count: Int, newestAgeSeconds: Double)]

    /// Records one failure under each key (and forgets failures older than `windowSeconds`).
    func recordFailure(keys: [String], windowSeconds: Int) async throws
}
