import AnomalyDetection
import Storage

/// A tenant's anomaly and hazard episodes, newest first, a page at a time (`GET /anomaly/episodes`).
struct EpisodeQueries: Sendable {
    let store: any EpisodeStore

    /// Up to `query.limit` episodes, and whether more follow them.
    func page(_ query: EpisodeQuery) async throws -> (episodes: ArraySlice<Episode>, more: Bool) {
        var ask = query
        ask.limit = query.limit + 1
        let rows = try await store.episodes(ask)
        return (rows.prefix(query.limit), rows.count > query.limit)
    }
}
