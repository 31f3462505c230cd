import AnomalyDetection
import Foundation
import SQLiteNIO

/// Episodes and their outbox rows, written inside `recordDetection`'s transaction.
extension SQLiteStoreDatabase {
    static let episodeColumns =
        "id, tenant_id, asset_id, kind, state, severity, metric, peak_score, started_at, last_anomaly_at, ended_at, anomalous_samples, normal_run"

    /// Advances the asset's tracker over `scores`; the caller holds the transaction (SQLite has
    /// one writer, so nothing else reads the tracker meanwhile).
    func recordEpisodes(
        tenantId: String, assetId: String, kind: String, observations: [EpisodeObservation], policy: EpisodePolicy
    ) async throws -> (events: [EpisodeEvent], live: Bool) {
        let key: [SQLiteData] = [.text(tenantId), .text(assetId), .text(kind)]
        var tracker = EpisodeTracker()
        let found = try await rows(
            """
            SELECT pending_run, pending_start, pending_last, pending_peak, pending_metric, open_episode_id FROM episode_trackers
            WHERE tenant_id = ? AND asset_id = ? AND kind = ?
            """, key)
        if let row = found.first {
            tracker = EpisodeTracker(
                pendingRun: row.column("pending_run")?.integer ?? 0, pendingStart: row.column("pending_start")?.string.flatMap(StoreTime.parse),
                pendingLast: row.column("pending_last")?.string.flatMap(StoreTime.parse), pendingPeak: row.column("pending_peak")?.double ?? 0,
                pendingMetric: row.column("pending_metric")?.string)
            if let openId = row.column("open_episode_id")?.string {
                tracker.open = try await rows("SELECT * FROM anomaly_episodes WHERE id = ?", [.text(openId)]).first.flatMap(Self.episode)
            }
        }
        let before = tracker
        let outcome = tracker.advance(observations, tenantId: tenantId, assetId: assetId, kind: kind, policy: policy)
        for e in outcome.episodes {
            _ = try await rows(
                """
                INSERT INTO anomaly_episodes (\(Self.episodeColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET state = excluded.state, severity = excluded.severity, metric = excluded.metric,
                    peak_score = excluded.peak_score, last_anomaly_at = excluded.last_anomaly_at, ended_at = excluded.ended_at,
                    anomalous_samples = excluded.anomalous_samples, normal_run = excluded.normal_run,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                """,
                [
                    .text(e.id), .text(e.tenantId), .text(e.assetId), .text(e.kind), .text(e.state.rawValue), .text(e.severity.rawValue),
                    .text(e.metric), .float(e.peakScore), .text(StoreTime.format(e.startedAt)), .text(StoreTime.format(e.lastAnomalyAt)),
                    e.endedAt.map { .text(StoreTime.format($0)) } ?? .null, .integer(e.anomalousSamples), .integer(e.normalRun),
                ])
        }
        let now = Date()
        let messages = OutboxMessage.messages(for: policy.outbox ? outcome.events : [], now: now)
        if !messages.isEmpty {
            var binds: [SQLiteData] = []
            for m in messages {
                binds += [
                    .text(tenantId), .text(m.episodeId), .text(assetId), .text(m.target.rawValue), .text(m.change.rawValue), .text(m.idempotencyKey),
                    .text(m.payload), .text("pending"), .text(StoreTime.format(now)), .text(StoreTime.format(now)),
                ]
            }
            _ = try await rows(
                "INSERT INTO ems_outbox (tenant_id, episode_id, asset_id, target, change, idempotency_key, payload, state, next_attempt_at, created_at) VALUES "
                    + Self.placeholders(rows: messages.count, columns: 10), binds)
        }
        if tracker != before || found.isEmpty {
            _ = try await rows(
                """
                INSERT INTO episode_trackers (tenant_id, asset_id, kind, pending_run, pending_start, pending_last, pending_peak, pending_metric, open_episode_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id, asset_id, kind) DO UPDATE SET pending_run = excluded.pending_run, pending_start = excluded.pending_start,
                    pending_last = excluded.pending_last, pending_peak = excluded.pending_peak, pending_metric = excluded.pending_metric,
                    open_episode_id = excluded.open_episode_id
                """,
                key + [
                    .integer(tracker.pendingRun), tracker.pendingStart.map { .text(StoreTime.format($0)) } ?? .null,
                    tracker.pendingLast.map { .text(StoreTime.format($0)) } ?? .null, .float(tracker.pendingPeak),
                    tracker.pendingMetric.map(SQLiteData.text) ?? .null, tracker.open.map { .text($0.id) } ?? .null,
                ])
        }
        return (outcome.events, tracker.isLive)
    }

    static func episode(_ row: SQLiteRow) -> Episode? {
        guard let id = row.column("id")?.string, let tenant = row.column("tenant_id")?.string, let asset = row.column("asset_id")?.string,
            let kind = row.column("kind")?.string, let state = row.column("state")?.string.flatMap(Episode.State.init(rawValue:)),
            let severity = row.column("severity")?.string.flatMap(Episode.Severity.init(rawValue:)), let metric = row.column("metric")?.string,
            let peak = row.column("peak_score")?.double, let started = row.column("started_at")?.string.flatMap(StoreTime.parse),
            let last = row.column("last_anomaly_at")?.string.flatMap(StoreTime.parse), let count = row.column("anomalous_samples")?.integer
        else { return nil }
        return Episode(
            id: id, tenantId: tenant, assetId: asset, kind: kind, state: state, severity: severity, metric: metric, peakScore: peak, startedAt: started,
            lastAnomalyAt: last, endedAt: row.column("ended_at")?.string.flatMap(StoreTime.parse), anomalousSamples: count,
            normalRun: row.column("normal_run")?.integer ?? 0)
    }

    static func message(_ row: SQLiteRow) -> OutboxMessage? {
        guard let id = row.column("id")?.integer, let tenant = row.column("tenant_id")?.string, let episode = row.column("episode_id")?.string,
            let asset = row.column("asset_id")?.string, let target = row.column("target")?.string.flatMap(OutboxMessage.Target.init(rawValue:)),
            let change = row.column("change")?.string.flatMap(EpisodeChange.init(rawValue:)), let key = row.column("idempotency_key")?.string,
            let payload = row.column("payload")?.string, let state = row.column("state")?.string.flatMap(OutboxMessage.State.init(rawValue:)),
            let next = row.column("next_attempt_at")?.string.flatMap(StoreTime.parse),
            let created = row.column("created_at")?.string.flatMap(StoreTime.parse)
        else { return nil }
        return OutboxMessage(
            id: Int64(id), tenantId: tenant, episodeId: episode, assetId: asset, target: target, change: change, idempotencyKey: key,
            payload: payload, state: state, attempts: row.column("attempts")?.integer ?? 0, nextAttemptAt: next,
            lastError: row.column("last_error")?.string, createdAt: created, deliveredAt: row.column("delivered_at")?.string.flatMap(StoreTime.parse))
    }
}
