import AnomalyDetection
import Foundation
import PostgresNIO

/// Episodes in PostgreSQL.
public struct PostgresEpisodeStore: EpisodeStore {
    let database: PostgresStoreDatabase

    public init(database: PostgresStoreDatabase) {
        self.database = database
    }

    public func episodes(_ q: EpisodeQuery) async throws -> [Episode] {
        try await database.guarded {
            let afterMicros = q.after.map { Keyset.micros($0.startedAt) }
            let rows = try await database.client.query(
                """
                SELECT \(unescaped: PostgresStoreDatabase.episodeColumns) FROM anomaly_episodes
                WHERE tenant_id = \(q.tenantId) AND (\(q.assetId)::text IS NULL OR asset_id = \(q.assetId))
                  AND (\(q.state?.rawValue)::text IS NULL OR state = \(q.state?.rawValue))
                  AND (\(q.from)::timestamptz IS NULL OR started_at >= \(q.from)) AND (\(q.to)::timestamptz IS NULL OR started_at < \(q.to))
                  AND (\(afterMicros)::int8 IS NULL
                       OR (started_at, id) < ('epoch'::timestamptz + \(afterMicros)::int8 * interval '1 microsecond', \(q.after?.id)::text))
                ORDER BY started_at DESC, id DESC LIMIT \(q.limit)
                """, logger: database.logger)
            var out: [Episode] = []
            for try await row in rows.decode(PostgresStoreDatabase.EpisodeRow.self) { out.append(PostgresStoreDatabase.episode(row)) }
            return out
        }
    }

    public func recordEpisodes(tenantId: String, kind: String, observations: [String: [EpisodeObservation]], policy: EpisodePolicy) async throws -> EpisodeBatch {
        try await database.guarded {
            try await database.client.withTransaction(logger: database.logger) { connection in
                try await database.recordEpisodes(on: connection, tenantId: tenantId, kind: kind, observations: observations, policy: policy)
            }
        }
    }

    public func liveTrackers(kind: String) async throws -> [(tenantId: String, assetId: String)] {
        try await database.guarded {
            let rows = try await database.client.query(
                """
                SELECT tenant_id, asset_id FROM episode_trackers
                WHERE kind = \(kind) AND (pending_run > 0 OR open_episode_id IS NOT NULL) LIMIT 100000
                """, logger: database.logger)
            var out: [(tenantId: String, assetId: String)] = []
            for try await (tenant, asset) in rows.decode((String, String).self) { out.append((tenant, asset)) }
            return out
        }
    }
}
