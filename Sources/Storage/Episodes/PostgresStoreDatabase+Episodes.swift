import AnomalyDetection
import ComputeSupport
import Foundation
import PostgresNIO

/// Episodes and their outbox rows, written inside `recordDetection`'s transaction.
extension PostgresStoreDatabase {
    static let episodeColumns =
        "id, tenant_id, asset_id, kind, state, severity, metric, peak_score, started_at, last_anomaly_at, ended_at, anomalous_samples, normal_run"

    /// Advances the asset's tracker over `scores` on `connection` (inside the caller's
    /// transaction). The tracker row is locked (`FOR UPDATE`), so concurrent detections of one
    /// asset take turns; other assets do not wait.
    func recordEpisodes(
        on connection: PostgresConnection, tenantId: String, assetId: String, kind: String, observations: [EpisodeObservation], policy: EpisodePolicy
    ) async throws -> (events: [EpisodeEvent], live: Bool) {
        try await connection.query(
            "INSERT INTO episode_trackers (tenant_id, asset_id, kind) VALUES (\(tenantId), \(assetId), \(kind)) ON CONFLICT DO NOTHING",
            logger: logger)
        let rows = try await connection.query(
            """
            SELECT pending_run, pending_start, pending_last, pending_peak, pending_metric, open_episode_id FROM episode_trackers
            WHERE tenant_id = \(tenantId) AND asset_id = \(assetId) AND kind = \(kind) FOR UPDATE
            """, logger: logger)
        var tracker = EpisodeTracker()
        var openId: String?
        for try await row in rows.decode((Int, Date?, Date?, Double, String?, String?).self) {
            tracker = EpisodeTracker(pendingRun: row.0, pendingStart: row.1, pendingLast: row.2, pendingPeak: row.3, pendingMetric: row.4)
            openId = row.5
        }
        if let openId {
            let found = try await connection.query(
                "SELECT \(unescaped: Self.episodeColumns) FROM anomaly_episodes WHERE id = \(openId)", logger: logger)
            for try await row in found.decode(EpisodeRow.self) { tracker.open = Self.episode(row) }
        }
        let before = tracker
        let outcome = tracker.advance(observations, tenantId: tenantId, assetId: assetId, kind: kind, policy: policy)
        // One statement for every episode the batch touched (a 10,000-sample detect can touch hundreds).
        if !outcome.episodes.isEmpty {
            let e = outcome.episodes
            // Closed episodes' end, as text ('' for an open one): arrays of optionals do not bind.
            let ended = e.map { $0.endedAt.map { ISO8601.format(units: Keyset.micros($0), digits: 6) } ?? "" }
            try await connection.query(
                """
                INSERT INTO anomaly_episodes (\(unescaped: Self.episodeColumns))
                SELECT i, \(tenantId), \(assetId), \(kind), st, sv, m, p, sa, la, NULLIF(en, '')::timestamptz, n, nr
                FROM UNNEST(\(e.map(\.id))::text[], \(e.map(\.state.rawValue))::text[], \(e.map(\.severity.rawValue))::text[], \(e.map(\.metric))::text[],
                            \(e.map(\.peakScore))::float8[], \(e.map(\.startedAt))::timestamptz[], \(e.map(\.lastAnomalyAt))::timestamptz[],
                            \(ended)::text[], \(e.map(\.anomalousSamples))::int8[], \(e.map(\.normalRun))::int8[])
                     AS u(i, st, sv, m, p, sa, la, en, n, nr)
                ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, severity = EXCLUDED.severity, metric = EXCLUDED.metric,
                    peak_score = EXCLUDED.peak_score, last_anomaly_at = EXCLUDED.last_anomaly_at, ended_at = EXCLUDED.ended_at,
                    anomalous_samples = EXCLUDED.anomalous_samples, normal_run = EXCLUDED.normal_run, updated_at = now()
                """, logger: logger)
        }
        let messages = OutboxMessage.messages(for: policy.outbox ? outcome.events : [], now: Date())
        if !messages.isEmpty {
            try await connection.query(
                """
                INSERT INTO ems_outbox (tenant_id, episode_id, asset_id, target, change, idempotency_key, payload, state, next_attempt_at, created_at)
                SELECT \(tenantId), e, \(assetId), t, c, k, p::jsonb, 'pending', now(), now()
                FROM UNNEST(\(messages.map(\.episodeId))::text[], \(messages.map(\.target.rawValue))::text[], \(messages.map(\.change.rawValue))::text[],
                            \(messages.map(\.idempotencyKey))::text[], \(messages.map(\.payload))::text[]) WITH ORDINALITY AS u(e, t, c, k, p, n)
                ORDER BY n
                """, logger: logger)
        }
        if tracker != before {
            try await connection.query(
                """
                UPDATE episode_trackers SET pending_run = \(tracker.pendingRun), pending_start = \(tracker.pendingStart),
                    pending_last = \(tracker.pendingLast), pending_peak = \(tracker.pendingPeak), pending_metric = \(tracker.pendingMetric),
                    open_episode_id = \(tracker.open?.id)
                WHERE tenant_id = \(tenantId) AND asset_id = \(assetId) AND kind = \(kind)
                """, logger: logger)
        }
        return (outcome.events, tracker.isLive)
    }

    typealias EpisodeRow = (String, String, String, String, String, String, String, Double, Date, Date, Date?, Int, Int)

    static func episode(_ r: EpisodeRow) -> Episode {
        Episode(
            id: r.0, tenantId: r.1, assetId: r.2, kind: r.3, state: Episode.State(rawValue: r.4) ?? .closed,
            severity: Episode.Severity(rawValue: r.5) ?? .warning, metric: r.6, peakScore: r.7, startedAt: r.8, lastAnomalyAt: r.9, endedAt: r.10,
            anomalousSamples: r.11, normalRun: r.12)
    }

}
