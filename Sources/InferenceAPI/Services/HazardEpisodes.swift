import AnomalyDetection
import Foundation
import Synchronization

/// Hazard episodes (`HAZARD_EPISODES`, on by default): a battery module (`module_id`) whose
/// hazard probability reaches `HAZARD_THRESHOLD` in `ALERT_MIN_SAMPLES` readings in a row opens an
/// episode, `ALERT_CLEAR_SAMPLES` normal readings close it, and each change goes to EMS Core
/// through the outbox, as anomaly episodes do.
///
/// `/predict` is the hot path, so the store is touched only for modules that matter: those with a
/// hazardous reading in the request, and those whose tracker is live (a pending run or an open
/// episode). The live set is this process's view, reloaded from the store every
/// `refreshSeconds`, so another replica's modules are seen within that time.
final class HazardEpisodes: Sendable {
    static let kind = "hazard"

    let store: any EpisodeStore
    let policy: EpisodePolicy
    let threshold: Double
    let refreshSeconds: TimeInterval
    let onChanges: (@Sendable () -> Void)?
    private struct Live {
        var keys = Set<String>()
        var loadedAt: Date?
    }
    private let live = Mutex(Live())

    init(store: any EpisodeStore, policy: EpisodePolicy, threshold: Double, refreshSeconds: TimeInterval = 10, onChanges: (@Sendable () -> Void)?) {
        self.store = store
        self.policy = policy
        self.threshold = threshold
        self.refreshSeconds = refreshSeconds
        self.onChanges = onChanges
    }

    private static func key(_ tenant: String, _ module: String) -> String { "\(tenant)\u{1F}\(module)" }

    /// Per module, its readings of one request in order (a reading without a timestamp is `now`).
    static func observations(moduleIds: [String?]?, timestamps: [String?]?, probabilities: [Float], threshold: Double) -> [String: [EpisodeObservation]] {
        guard let moduleIds else { return [:] }
        let now = Date()
        var out: [String: [EpisodeObservation]] = [:]
        for (index, module) in moduleIds.enumerated() {
            guard let module, index < probabilities.count else { continue }
            let p = Double(probabilities[index])
            let time = timestamps?[index].flatMap(ISO8601.parse) ?? now
            out[module, default: []].append(EpisodeObservation(timestamp: time, score: p, isAnomaly: p >= threshold, metric: "hazard_probability"))
        }
        return out
    }

    /// Records the modules that matter; returns the changes (committed when this returns).
    @discardableResult
    func record(tenant: String, _ observations: [String: [EpisodeObservation]]) async throws -> [EpisodeEvent] {
        guard !observations.isEmpty else { return [] }
        try await refreshIfDue()
        let chosen = live.withLock { state in
            observations.filter { module, readings in readings.contains(where: \.isAnomaly) || state.keys.contains(Self.key(tenant, module)) }
        }
        guard !chosen.isEmpty else { return [] }
        let batch = try await store.recordEpisodes(
            tenantId: tenant, kind: Self.kind, observations: chosen.mapValues { $0.sorted { $0.timestamp < $1.timestamp } }, policy: policy)
        live.withLock { state in
            for module in chosen.keys {
                if batch.live.contains(module) { state.keys.insert(Self.key(tenant, module)) } else { state.keys.remove(Self.key(tenant, module)) }
            }
        }
        if !batch.events.isEmpty, policy.outbox { onChanges?() }
        return batch.events
    }

    private func refreshIfDue() async throws {
        let now = Date()
        let due = live.withLock { state in state.loadedAt.map { now.timeIntervalSince($0) >= refreshSeconds } ?? true }
        guard due else { return }
        let rows = try await store.liveTrackers(kind: Self.kind)
        live.withLock { state in
            state.keys = Set(rows.map { Self.key($0.tenantId, $0.assetId) })
            state.loadedAt = now
        }
    }
}
