import Foundation
import Synchronization

/// The fleet's state in memory: this process is the fleet (see `MemoryDatabase`).
public final class MemoryFleetStore: FleetStore {
    private struct Tables {
        var state: FleetState?
        var replicas: [String: ReplicaRecord] = [:]
        var experiment: FleetExperiment?
        var counters: [Int64: [String: String]] = [:]
    }
    private let tables = Mutex(Tables())
    public var isShared: Bool { false }

    public init() {}

    public func state() async throws -> FleetState? { tables.withLock { $0.state } }

    public func seed(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState {
        tables.withLock { tables in
            if let state = tables.state { return state }
            let state = FleetState(reference: reference, runId: runId, version: 1, updatedBy: replica, reason: reason, updatedAt: Date())
            tables.state = state
            return state
        }
    }

    public func publish(reference: String, runId: String, by replica: String, reason: String) async throws -> FleetState {
        tables.withLock { tables in
            let state = FleetState(
                reference: reference, runId: runId, version: (tables.state?.version ?? 0) + 1, updatedBy: replica, reason: reason, updatedAt: Date())
            tables.state = state
            return state
        }
    }

    public func beat(_ replica: ReplicaRecord) async throws {
        var seen = replica
        seen.lastSeen = Date()
        tables.withLock { $0.replicas[replica.replicaId] = seen }
    }

    public func replicas(seenWithin seconds: Int) async throws -> [ReplicaRecord] {
        let since = Date().addingTimeInterval(-Double(seconds))
        return tables.withLock { $0.replicas.values.filter { ($0.lastSeen ?? .distantPast) > since }.sorted { $0.replicaId < $1.replicaId } }
    }

    public func experiment() async throws -> FleetExperiment? { tables.withLock { $0.experiment } }

    public func startExperiment(_ start: ExperimentStart, by replica: String) async throws -> FleetExperiment {
        tables.withLock { tables in
            let experiment = FleetExperiment(
                version: (tables.experiment?.version ?? 0) + 1, reference: start.reference, runId: start.runId, mode: start.mode,
                percent: start.percent, sticky: start.sticky, status: .running, reason: nil, startedBy: replica, startedAt: Date(), endedAt: nil)
            tables.experiment = experiment
            return experiment
        }
    }

    public func endExperiment(version: Int64, status: FleetExperiment.Status, reason: String) async throws -> FleetExperiment? {
        tables.withLock { tables in
            guard var experiment = tables.experiment else { return nil }
            if experiment.version == version, experiment.status == .running {
                experiment.status = status
                experiment.reason = reason
                experiment.endedAt = Date()
                tables.experiment = experiment
            }
            return experiment
        }
    }

    public func writeExperimentCounters(version: Int64, replica: String, counters: String) async throws {
        tables.withLock { $0.counters[version, default: [:]][replica] = counters }
    }

    public func experimentCounters(version: Int64) async throws -> [String] {
        tables.withLock { tables in (tables.counters[version] ?? [:]).sorted { $0.key < $1.key }.map(\.value) }
    }

    public func listen(_ handler: @escaping @Sendable (FleetEvent) async -> Void) async throws {
        await handler(.subscribed)
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }
}
