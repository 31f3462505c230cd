import AnomalyDetection
import Foundation
import SQLiteNIO

/// Many assets' episode trackers advanced in a few statements: the trackers read in one query,
/// their open episodes in another, the changes written as multi-row upserts. Hazard-episode
/// bookkeeping records batches of up to thousands of modules; one statement round trip per module
/// and step made the drain slower than `/predict` fills its queue.
extension SQLiteStoreDatabase {
    /// Largest number of bound values in one statement here (well under the driver's limit).
    static let bindsPerStatement = 30_000

    /// Advances the trackers of `observations`' assets; the caller holds the transaction.
    func recordEpisodes(
        tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy
    ) async throws -> EpisodeBatch {
        let assets = observations.keys.sorted()
        var trackers: [String: (tracker: EpisodeTracker, openId: String?)] = [:]
        for part in Self.chunks(assets, size: Self.bindsPerStatement - 2) {
            let found = try await rows(
                """
                SELECT asset_id, pending_run, pending_start, pending_last, pending_peak, pending_metric, open_episode_id FROM episode_trackers
                WHERE tenant_id = ? AND kind = ? AND asset_id IN (\(Array(repeating: "?", count: part.count).joined(separator: ",")))
                """, [.text(tenantId), .text(kind)] + part.map(SQLiteData.text))
            for row in found {
                guard let asset = row.column("asset_id")?.string else { continue }
                let tracker = EpisodeTracker(
                    pendingRun: row.column("pending_run")?.integer ?? 0, pendingStart: row.column("pending_start")?.string.flatMap(StoreTime.parse),
                    pendingLast: row.column("pending_last")?.string.flatMap(StoreTime.parse), pendingPeak: row.column("pending_peak")?.double ?? 0,
                    pendingMetric: row.column("pending_metric")?.string)
                trackers[asset] = (tracker, row.column("open_episode_id")?.string)
            }
        }
        var open: [String: Episode] = [:]
        for part in Self.chunks(trackers.values.compactMap(\.openId), size: Self.bindsPerStatement) {
            let found = try await rows(
                "SELECT * FROM anomaly_episodes WHERE id IN (\(Array(repeating: "?", count: part.count).joined(separator: ",")))",
                part.map(SQLiteData.text))
            for episode in found.compactMap(Self.episode) { open[episode.id] = episode }
        }

        var batch = EpisodeBatch()
        var episodeRows: [[SQLiteData]] = []
        var outboxRows: [[SQLiteData]] = []
        var trackerRows: [[SQLiteData]] = []
        let now = Date()
        for (index, asset) in assets.enumerated() {
            // Advancing thousands of trackers over a second of readings is milliseconds of CPU in
            // one stretch, on whichever event loop runs the caller (hazard bookkeeping's drain):
            // let that loop serve its connections between modules.
            if index % 64 == 63 { await Task.yield() }
            var tracker = trackers[asset]?.tracker ?? EpisodeTracker()
            if let id = trackers[asset]?.openId { tracker.open = open[id] }
            let before = tracker
            let outcome = tracker.advance(observations[asset] ?? [], tenantId: tenantId, assetId: asset, kind: kind, policy: policy)
            for e in outcome.episodes {
                episodeRows.append([
                    .text(e.id), .text(e.tenantId), .text(e.assetId), .text(e.kind), .text(e.state.rawValue), .text(e.severity.rawValue),
                    .text(e.metric), .float(e.peakScore), .text(StoreTime.format(e.startedAt)), .text(StoreTime.format(e.lastAnomalyAt)),
                    e.endedAt.map { .text(StoreTime.format($0)) } ?? .null, .integer(e.anomalousSamples), .integer(e.normalRun),
                ])
            }
            for m in OutboxMessage.messages(for: policy.outbox ? outcome.events : [], now: now) {
                outboxRows.append([
                    .text(tenantId), .text(m.episodeId), .text(asset), .text(m.target.rawValue), .text(m.change.rawValue), .text(m.idempotencyKey),
                    .text(m.payload), .text("pending"), .text(StoreTime.format(now)), .text(StoreTime.format(now)),
                ])
            }
            if tracker != before || trackers[asset] == nil {
                trackerRows.append([
                    .text(tenantId), .text(asset), .text(kind), .integer(tracker.pendingRun),
                    tracker.pendingStart.map { .text(StoreTime.format($0)) } ?? .null, tracker.pendingLast.map { .text(StoreTime.format($0)) } ?? .null,
                    .float(tracker.pendingPeak), tracker.pendingMetric.map(SQLiteData.text) ?? .null, tracker.open.map { .text($0.id) } ?? .null,
                ])
            }
            batch.events += outcome.events
            if tracker.isLive { batch.live.insert(asset) }
        }
        try await insert(
            "INSERT INTO anomaly_episodes (\(Self.episodeColumns)) VALUES", episodeRows,
            conflict: """
                ON CONFLICT (id) DO UPDATE SET state = excluded.state, severity = excluded.severity, metric = excluded.metric,
                    peak_score = excluded.peak_score, last_anomaly_at = excluded.last_anomaly_at, ended_at = excluded.ended_at,
                    anomalous_samples = excluded.anomalous_samples, normal_run = excluded.normal_run,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                """)
        try await insert(
            "INSERT INTO ems_outbox (tenant_id, episode_id, asset_id, target, change, idempotency_key, payload, state, next_attempt_at, created_at) VALUES",
            outboxRows, conflict: "")
        try await insert(
            "INSERT INTO episode_trackers (tenant_id, asset_id, kind, pending_run, pending_start, pending_last, pending_peak, pending_metric, open_episode_id) VALUES",
            trackerRows,
            conflict: """
                ON CONFLICT (tenant_id, asset_id, kind) DO UPDATE SET pending_run = excluded.pending_run, pending_start = excluded.pending_start,
                    pending_last = excluded.pending_last, pending_peak = excluded.pending_peak, pending_metric = excluded.pending_metric,
                    open_episode_id = excluded.open_episode_id
                """)
        return batch
    }

    /// `head (…),(…) conflict`, as few statements as the bind limit allows.
    private func insert(_ head: String, _ values: [[SQLiteData]], conflict: String) async throws {
        guard let columns = values.first?.count else { return }
        for part in Self.chunks(values, size: max(1, Self.bindsPerStatement / columns)) {
            _ = try await rows("\(head) \(Self.placeholders(rows: part.count, columns: columns)) \(conflict)", part.flatMap { $0 })
        }
    }

    static func chunks<T>(_ items: [T], size: Int) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }
}
