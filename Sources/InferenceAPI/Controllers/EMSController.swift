import AnomalyDetection
import EMSCore
import Foundation
import Hummingbird
import Storage

/// The EMS Core outbox for the operator (scope `models:admin`): `GET /ems/outbox?state=` lists
/// messages (parked ones with EMS Core's reason), `POST /ems/outbox/retry` puts parked ones back.
struct EMSController {
    let outbox: OutboxAdministration
    let maxBodyBytes: Int

    /// Mounted on `/ems`.
    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.group().add(middleware: access.requires(.modelsAdmin))
            .get("outbox", use: list)
            .post("outbox/retry", use: retry)
    }

    struct ListAnswer: ResponseEncodable {
        struct Message: Encodable {
            let id: Int64
            let episode_id: String
            let asset_id: String
            let target: String
            let change: String
            let idempotency_key: String
            let state: String
            let attempts: Int
            let next_attempt_at: String
            let last_error: String?
            let created_at: String
            let delivered_at: String?
        }
        let state: String
        let count: Int
        let messages: [Message]
        /// Pass as `after` for the next page; absent on the last.
        let next_after: Int64?
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> ListAnswer {
        var details: [APIError.Detail] = []
        let query = request.uri.queryParameters
        var state = OutboxMessage.State.parked
        if let text = query["state"].map(String.init) {
            if let chosen = OutboxMessage.State(rawValue: text) { state = chosen } else {
                details.append(.init(field: "state", problem: "must be pending, delivered or parked"))
            }
        }
        let limit = Int(request.queryNumber("limit", range: 1...1000, default: 100, &details))
        let after = Int64(request.queryNumber("after", range: 0...9e15, default: 0, &details))
        guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        let (page, more) = try await outbox.page(tenantId: context.tenant, state: state, afterId: after, limit: limit)
        return ListAnswer(
            state: state.rawValue, count: page.count,
            messages: page.map { m in
                .init(
                    id: m.id ?? 0, episode_id: m.episodeId, asset_id: m.assetId, target: m.target.rawValue, change: m.change.rawValue,
                    idempotency_key: m.idempotencyKey, state: m.state.rawValue, attempts: m.attempts,
                    next_attempt_at: ModelInfo.timestamp(m.nextAttemptAt), last_error: m.lastError, created_at: ModelInfo.timestamp(m.createdAt),
                    delivered_at: m.deliveredAt.map(ModelInfo.timestamp))
            },
            next_after: more ? page.last?.id : nil)
    }

    struct RetryAnswer: ResponseEncodable {
        let retried: Int
    }

    /// `{"ids": [1, 2]}` retries those parked messages, `{}` (or no body) every parked one.
    @Sendable func retry(request: Request, context: AppRequestContext) async throws -> RetryAnswer {
        let body = try await request.body.collect(upTo: maxBodyBytes)
        var ids: [Int64]?
        if body.readableBytes > 0 {
            let object = try AnomalyRequests.parse(Data(buffer: body))
            var details: [APIError.Detail] = []
            for key in object.keys where key != "ids" { details.append(.init(field: key, problem: "unknown key")) }
            switch object["ids"] {
            case nil, .null?: break
            case .array(let items)? where items.count <= 10_000:
                ids = []
                for (i, item) in items.enumerated() {
                    if case .number(let d) = item, d == d.rounded(), d >= 1, d < 9e15 { ids?.append(Int64(d)) } else {
                        details.append(.init(index: i, field: "ids", problem: "must be a message id (a positive whole number)"))
                    }
                }
            default: details.append(.init(field: "ids", problem: "must be a list of at most 10000 message ids"))
            }
            guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        }
        return RetryAnswer(retried: try await outbox.retryParked(tenantId: context.tenant, ids: ids, logger: context.logger))
    }
}
