import AnomalyDetection
import Foundation
import SQLiteNIO

/// Episodes in SQLite.
public struct SQLiteEpisodeStore: EpisodeStore {
    let database: SQLiteStoreDatabase

    public init(database: SQLiteStoreDatabase) {
        self.database = database
    }

    public func episodes(_ q: EpisodeQuery) async throws -> [Episode] {
        let rows = try await database.rows(
            """
            SELECT * FROM anomaly_episodes
            WHERE tenant_id = ?1 AND (?2 IS NULL OR asset_id = ?2) AND (?3 IS NULL OR state = ?3)
              AND (?4 IS NULL OR started_at >= ?4) AND (?5 IS NULL OR started_at < ?5)
              AND (?6 IS NULL OR started_at < ?6 OR (started_at = ?6 AND id < ?7))
            ORDER BY started_at DESC, id DESC LIMIT ?8
            """,
            [
                .text(q.tenantId), q.assetId.map(SQLiteData.text) ?? .null, q.state.map { .text($0.rawValue) } ?? .null, StoreTime.data(q.from),
                StoreTime.data(q.to), StoreTime.data(q.after?.startedAt), q.after.map { .text($0.id) } ?? .null, .integer(q.limit),
            ])
        return rows.compactMap(SQLiteStoreDatabase.episode)
    }

    public func recordEpisodes(tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy) async throws -> EpisodeBatch {
        try await database.transaction {
            try await database.recordEpisodes(tenantId: tenantId, kind: kind, observations: observations, policy: policy)
        }
    }

    public func liveTrackers(kind: String) async throws -> [(tenantId: String, assetId: String)] {
        try await database.rows(
            "SELECT tenant_id, asset_id FROM episode_trackers WHERE kind = ? AND (pending_run > 0 OR open_episode_id IS NOT NULL) LIMIT 100000",
            [.text(kind)]
        ).compactMap { row in
            guard let tenant = row.column("tenant_id")?.string, let asset = row.column("asset_id")?.string else { return nil }
            return (tenant, asset)
        }
    }
}
