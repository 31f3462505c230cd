import AnomalyDetection
import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdCore
import Storage

/// History by cursor: `GET /anomaly/scores/{asset_id}` (one asset, newest first, a time range),
/// `GET /anomaly/scores` (every asset of the tenant, in write order, for incremental sync) and
/// `GET /anomaly/episodes`. Each answers a page with an opaque `next` cursor, or streams every
/// matching row as NDJSON for `Accept: application/x-ndjson`.
extension AnomalyController {
    struct ScoreRow: Encodable {
        let id: Int64?
        let asset_id: String
        let timestamp: String
        let metric_name: String
        let score: Double
        let is_anomaly: Bool
        let threshold: Double
        let method: String
        let model_id: String?
        let details: [String: Double]

        init(_ row: AnomalyService.HistoryRow) {
            let r = row.record
            id = r.id
            asset_id = r.assetId
            timestamp = ModelInfo.timestamp(r.timestamp)
            metric_name = r.metricName
            score = r.score
            is_anomaly = r.isAnomaly
            threshold = r.threshold
            method = r.method
            model_id = r.modelId
            details = row.details
        }
    }

    struct ScoresAnswer: ResponseEncodable {
        let asset_id: String
        let count: Int
        let scores: [ScoreRow]
        /// Present while more rows match: pass it as `?cursor=`.
        let next: String?
    }

    /// Rows per query while streaming NDJSON.
    static let streamPage = 1000

    static func wantsNDJSON(_ request: Request) -> Bool {
        request.headers[.accept]?.lowercased().contains("application/x-ndjson") ?? false
    }

    /// Streams `page(after)` until it comes back short, one JSON object per line.
    static func ndjson<Item: Sendable, Position: Sendable>(
        total: Int?, start: Position?, page: @escaping @Sendable (Position?, Int) async throws -> [Item], row: @escaping @Sendable (Item) -> any Encodable,
        position: @escaping @Sendable (Item) -> Position
    ) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                let encoder = JSONEncoder()
                var after = start
                var sent = 0
                while total.map({ sent < $0 }) ?? true {
                    let want = min(streamPage, (total ?? Int.max) - sent)
                    let rows = try await page(after, want)
                    var buffer = ByteBuffer()
                    for item in rows {
                        buffer.writeBytes(try encoder.encode(row(item)))
                        buffer.writeInteger(UInt8(ascii: "\n"))
                    }
                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                    sent += rows.count
                    guard rows.count == want, let last = rows.last else { break }
                    after = position(last)
                }
                try await writer.finish(nil)
            })
    }

    /// `from`/`to` (ISO 8601) from the query string, problems into `details`.
    static func range(_ query: FlatDictionary<Substring, Substring>, _ details: inout [APIError.Detail]) -> (from: Date?, to: Date?) {
        var out: (from: Date?, to: Date?) = (nil, nil)
        for field in ["from", "to"] {
            guard let text = query[field[...]].map(String.init) else { continue }
            let date: Date
            switch ISO8601.parseAccepted(text) {
            case .time(let parsed): date = parsed
            case .outOfRange:
                details.append(.init(field: field, problem: "must be \(ISO8601.acceptedDescription)"))
                continue
            case .invalid:
                details.append(.init(field: field, problem: "must be an ISO 8601 time (2026-11-22T10:15:00Z)"))
                continue
            }
            if field == "from" { out.from = date } else { out.to = date }
        }
        if let from = out.from, let to = out.to, from >= to { details.append(.init(field: "to", problem: "must be after from")) }
        return out
    }

    @Sendable func scores(request: Request, context: AppRequestContext) async throws -> Response {
        var details: [APIError.Detail] = []
        let (asset, hours, limit) = Self.window(request, context, defaultLimit: 100, &details)
        let query = request.uri.queryParameters
        var anomaliesOnly = false
        if let flag = query["anomalies_only"].map(String.init) {
            switch flag.lowercased() {
            case "true", "1", "yes": anomaliesOnly = true
            case "false", "0", "no": anomaliesOnly = false
            default: details.append(.init(field: "anomalies_only", problem: "must be true or false"))
            }
        }
        let metric = query["metric"].map(String.init)
        if let metric, !AnomalyRequests.isMetricName(metric) && metric != "all" {
            details.append(.init(field: "metric", problem: "is not a valid metric name"))
        }
        var since: Date?
        var until: Date?
        var after: (timestamp: Date, id: Int64)?
        if let text = query["cursor"].map(String.init) {
            for field in ["hours", "from", "to"] where query[field[...]] != nil {
                details.append(.init(field: field, problem: "not with cursor (the cursor carries the range)"))
            }
            if case .scores(let cursorAsset, let s, let u, let micros, let id)? = PageCursor(text), cursorAsset == asset {
                since = s.map(Keyset.date)
                until = u.map(Keyset.date)
                after = (Keyset.date(micros: micros), id)
            } else {
                details.append(.init(field: "cursor", problem: "is not a cursor of this asset's history"))
            }
        } else {
            let range = Self.range(query, &details)
            if range.from != nil || range.to != nil {
                if query["hours"] != nil { details.append(.init(field: "hours", problem: "give hours or from/to, not both")) }
                since = range.from
                until = range.to
            } else {
                since = Date().addingTimeInterval(-hours * 3600)
            }
        }
        guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        let base = ScoreQuery(
            tenantId: context.tenant, assetId: asset, since: since, until: until, metricName: metric, anomaliesOnly: anomaliesOnly, after: after,
            limit: limit)
        let service = self.service
        if Self.wantsNDJSON(request) {
            typealias Position = (Date, Int64)
            return Self.ndjson(
                total: query["limit"] == nil ? nil : limit, start: after.map { ($0.timestamp, $0.id) },
                page: { (position: Position?, count: Int) in
                    var q = base
                    q.after = position.map { (timestamp: $0.0, id: $0.1) }
                    q.limit = count
                    return try await service.history(q)
                },
                row: ScoreRow.init, position: { ($0.record.timestamp, $0.record.id ?? 0) })
        }
        var first = base
        first.limit = limit + 1
        let rows = try await service.history(first)
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? page.last.map { last in
            PageCursor.scores(
                asset: asset, since: since.map(Keyset.micros), until: until.map(Keyset.micros), micros: Keyset.micros(last.record.timestamp),
                id: last.record.id ?? 0
            ).encoded
        } : nil
        return try ScoresAnswer(asset_id: asset, count: page.count, scores: page.map(ScoreRow.init), next: next).response(from: request, context: context)
    }

    struct SyncAnswer: ResponseEncodable {
        let count: Int
        let scores: [ScoreRow]
        /// Always present: where the next call resumes (now, or later for rows yet to come).
        let next: String
        let more: Bool
    }

    /// Rows younger than this are left for the next call: PostgreSQL hands out ids before
    /// commit, so a slow transaction's lower ids could otherwise appear behind a cursor.
    static let syncSettleSeconds = 2.0

    /// Every asset's scores of the tenant in write order, from the cursor on.
    @Sendable func syncScores(request: Request, context: AppRequestContext) async throws -> Response {
        var details: [APIError.Detail] = []
        let query = request.uri.queryParameters
        let limit = Int(request.queryNumber("limit", range: 1...10_000, default: 1000, &details))
        var afterId: Int64 = 0
        if let text = query["cursor"].map(String.init) {
            if case .sync(let id)? = PageCursor(text) { afterId = id } else {
                details.append(.init(field: "cursor", problem: "is not a cursor of GET /anomaly/scores"))
            }
        }
        for key in query.map(\.key) where !["cursor", "limit"].contains(String(key)) {
            details.append(.init(field: String(key), problem: "unknown parameter (the tenant's sync takes cursor and limit)"))
        }
        guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        let settled = Date().addingTimeInterval(-Self.syncSettleSeconds)
        let tenant = context.tenant
        let service = self.service
        if Self.wantsNDJSON(request) {
            return Self.ndjson(
                total: query["limit"] == nil ? nil : limit, start: afterId,
                page: { (position: Int64?, count: Int) in
                    try await service.sync(tenantId: tenant, afterId: position ?? 0, settledBefore: settled, limit: count)
                },
                row: ScoreRow.init, position: { $0.record.id ?? 0 })
        }
        let rows = try await service.sync(tenantId: tenant, afterId: afterId, settledBefore: settled, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        let next = PageCursor.sync(afterId: page.last?.record.id ?? afterId).encoded
        return try SyncAnswer(count: page.count, scores: page.map(ScoreRow.init), next: next, more: rows.count > limit)
            .response(from: request, context: context)
    }

    struct EpisodesAnswer: ResponseEncodable {
        struct Row: Encodable {
            let id: String
            let asset_id: String
            let kind: String
            let state: String
            let severity: String
            let metric: String
            let peak_score: Double
            let started_at: String
            let last_anomaly_at: String
            let ended_at: String?
            let anomalous_samples: Int
        }
        let count: Int
        let episodes: [Row]
        let next: String?
    }

    @Sendable func listEpisodes(request: Request, context: AppRequestContext) async throws -> EpisodesAnswer {
        var details: [APIError.Detail] = []
        let query = request.uri.queryParameters
        let asset = query["asset_id"].map(String.init)
        if let asset, !AnomalyRequests.isAssetId(asset) { details.append(.init(field: "asset_id", problem: "is not a valid asset id")) }
        var state: Episode.State?
        if let text = query["state"].map(String.init) {
            state = Episode.State(rawValue: text)
            if state == nil { details.append(.init(field: "state", problem: "must be open or closed")) }
        }
        let range = Self.range(query, &details)
        let limit = Int(request.queryNumber("limit", range: 1...1000, default: 100, &details))
        // The list's filters: the query's, or on later pages the cursor's, which the query may
        // repeat but not change.
        var filters = PageCursor.EpisodeFilters(
            asset: asset, state: state?.rawValue, from: range.from.map(Keyset.micros), to: range.to.map(Keyset.micros))
        var after: (startedAt: Date, id: String)?
        if let text = query["cursor"].map(String.init) {
            if case .episodes(let micros, let id, let carried)? = PageCursor(text) {
                after = (Keyset.date(micros: micros), id)
                if let carried {
                    for field in filters.changed(from: carried) {
                        details.append(.init(field: field, problem: "differs from the cursor's (the cursor carries the filters of its list)"))
                    }
                    filters = carried
                }
            } else {
                details.append(.init(field: "cursor", problem: "is not a cursor of GET /anomaly/episodes"))
            }
        }
        guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        let (page, more) = try await episodes.page(
            EpisodeQuery(
                tenantId: context.tenant, assetId: filters.asset, state: filters.state.flatMap(Episode.State.init(rawValue:)),
                from: filters.from.map(Keyset.date(micros:)), to: filters.to.map(Keyset.date(micros:)), after: after, limit: limit))
        let next = more ? page.last.map { PageCursor.episodes(micros: Keyset.micros($0.startedAt), id: $0.id, filters: filters).encoded } : nil
        return EpisodesAnswer(
            count: page.count,
            episodes: page.map { e in
                EpisodesAnswer.Row(
                    id: e.id, asset_id: e.assetId, kind: e.kind, state: e.state.rawValue, severity: e.severity.rawValue, metric: e.metric,
                    peak_score: e.peakScore, started_at: ModelInfo.timestamp(e.startedAt), last_anomaly_at: ModelInfo.timestamp(e.lastAnomalyAt),
                    ended_at: e.endedAt.map(ModelInfo.timestamp), anomalous_samples: e.anomalousSamples)
            }, next: next)
    }
}
