import AnomalyDetection
import Foundation
import Hummingbird
import Storage

/// EMS anomalies: `POST /anomaly/detect`, `POST /anomaly/train`, `GET /anomaly/models`, and the
/// history routes (`AnomalyController+History.swift`).
struct AnomalyController {
    let service: AnomalyService
    let maxSamples: Int
    let maxBodyBytes: Int
    let telemetry: Telemetry?
    let episodes: EpisodeQueries
    let idempotency: Idempotency

    /// Mounted on `/anomaly`.
    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.group().add(middleware: access.requires(.anomalyWrite))
            .post("detect", use: detect)
            .post("train", use: train)
        group.group().add(middleware: access.requires(.anomalyRead))
            .get("scores/{asset_id}", use: scores)
            .get("scores", use: syncScores)
            .get("episodes", use: listEpisodes)
            .get("models", use: models)
            .get("assets", use: assets)
            .get("samples/{asset_id}", use: samples)
            .post("forecast", use: forecast)
            .get("forecast/{asset_id}", use: storedForecast)
    }

    struct AssetsAnswer: ResponseEncodable {
        struct Asset: Encodable {
            let asset_id: String
            let samples: Int
            let last_sample: String?
        }
        let assets: [Asset]
    }

    /// The tenant's assets that have stored samples.
    @Sendable func assets(request: Request, context: AppRequestContext) async throws -> AssetsAnswer {
        let assets = try await service.assets(tenantId: context.tenant)
        return AssetsAnswer(assets: assets.map { .init(asset_id: $0.assetId, samples: $0.samples, last_sample: $0.lastSample.map(ModelInfo.timestamp)) })
    }

    struct SamplesAnswer: ResponseEncodable {
        struct Sample: Encodable {
            let timestamp: String
            let metrics: [String: Double]
        }
        let asset_id: String
        let count: Int
        let samples: [Sample]
    }

    /// The asset's stored metric samples of the last `hours`, oldest first (for the timeline).
    @Sendable func samples(request: Request, context: AppRequestContext) async throws -> SamplesAnswer {
        var details: [APIError.Detail] = []
        let (asset, hours, limit) = Self.window(request, context, defaultLimit: 2000, &details)
        // `from`/`to`: the first `limit` samples of the range; else the last `limit` of `hours`.
        let query = request.uri.queryParameters
        let range = Self.range(query, &details)
        let ranged = range.from != nil || range.to != nil
        if ranged, query["hours"] != nil { details.append(.init(field: "hours", problem: "give hours or from/to, not both")) }
        guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        let rows =
            ranged
            ? try await service.samples(tenantId: context.tenant, assetId: asset, from: range.from, to: range.to, limit: limit)
            : try await service.samples(tenantId: context.tenant, assetId: asset, since: Date().addingTimeInterval(-hours * 3600), limit: limit)
        return SamplesAnswer(
            asset_id: asset, count: rows.count, samples: rows.map { .init(timestamp: ModelInfo.timestamp($0.timestamp), metrics: $0.metrics) })
    }

    @Sendable func detect(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.jsonBody(upTo: maxBodyBytes)
        let parsed = try AnomalyRequests.detect(Data(buffer: body), maxSamples: maxSamples)
        // Only a persisting detect writes; without persist a retry simply scores again.
        let key = parsed.persist ? try idempotency.key(of: request, body: body, tenant: context.tenant) : nil
        return try await idempotency.once(key) {
            let scored = try await service.score(tenantId: context.tenant, request: parsed)
            let answer = Self.detectAnswer(parsed, scored)
            if parsed.persist {
                let receipt = try await key?.receipt(status: .ok, body: answer)
                try await service.persist(tenantId: context.tenant, request: parsed, scored: scored, receipt: receipt)
            }
            telemetry?.detections(scored.detections)
            return .json(.ok, answer)
        }
    }

    /// `{"asset_id", "model_id", "threshold", "persisted", "results": [{"timestamp", "score",
    /// "is_anomaly", "method", "metric"?, "scores"}]}`, written straight into the buffer (a
    /// 1000-sample answer through `JSONEncoder` cost more than scoring it).
    static func detectAnswer(_ parsed: AnomalyRequests.Detect, _ scored: AnomalyService.Scored) -> ByteBuffer {
        var json = JSONWriter(capacity: 128 + scored.detections.count * 160)
        json.raw("{\"asset_id\":")
        json.string(parsed.assetId)
        json.raw(",\"model_id\":")
        json.optionalString(scored.modelId)
        json.raw(",\"threshold\":")
        json.double(scored.threshold)
        json.raw(parsed.persist ? ",\"persisted\":true,\"results\":[" : ",\"persisted\":false,\"results\":[")
        var order = SortedPairs()
        for (index, (time, d)) in zip(parsed.timestamps, scored.detections).enumerated() {
            json.raw(index == 0 ? "{\"timestamp\":" : ",{\"timestamp\":")
            json.string(time)
            json.raw(",\"score\":")
            json.double(d.score)
            json.raw(d.isAnomaly ? ",\"is_anomaly\":true,\"method\":" : ",\"is_anomaly\":false,\"method\":")
            json.string(d.method.rawValue)
            if let metric = d.metric {
                json.raw(",\"metric\":")
                json.string(metric)
            }
            json.raw(",\"scores\":{")
            var first = true
            order.forEach(d.components) { name, value in
                if !first { json.raw(",") }
                first = false
                json.string(name)
                json.raw(":")
                json.double(value)
            }
            json.raw("}}")
        }
        json.raw("]}")
        return json.buffer
    }

    struct TrainAnswer: ResponseEncodable {
        let asset_id: String
        let model_id: String
        let model_version: String
        let status: String
        let n_samples: Int
        let training_seconds: Double
        let score_threshold: Double
        let parameters: [String: JSONNumberOrList]
    }

    /// Parameters echoed back (numbers, or the metric names).
    enum JSONNumberOrList: Encodable {
        case number(Double)
        case names([String])
        case none

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let d): try c.encode(d)
            case .names(let n): try c.encode(n)
            case .none: try c.encodeNil()
            }
        }
    }

    @Sendable func train(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.jsonBody(upTo: maxBodyBytes)
        let parsed = try AnomalyRequests.train(Data(buffer: body), maxSamples: 1_000_000)
        let key = try idempotency.key(of: request, body: body, tenant: context.tenant)
        var receipt: (@Sendable (AnomalyService.Trained) -> IdempotencyReceipt)?
        if let key { receipt = { trained in key.receiptNow(status: .created, body: Self.trainAnswer(parsed, trained)) } }
        return try await idempotency.once(key) {
            let trained = try await service.train(tenantId: context.tenant, request: parsed, receipt: receipt)
            telemetry?.training(seconds: trained.seconds)
            context.logger.notice(
                "anomaly model trained",
                metadata: ["asset_id": "\(parsed.assetId)", "model_id": "\(AnomalyService.publicId(trained.record))", "samples": "\(trained.samples)"])
            return .json(.created, Self.trainAnswer(parsed, trained))
        }
    }

    static func trainAnswer(_ parsed: AnomalyRequests.Train, _ trained: AnomalyService.Trained) -> ByteBuffer {
        let p = parsed.parameters
        let answer = TrainAnswer(
            asset_id: parsed.assetId, model_id: AnomalyService.publicId(trained.record), model_version: trained.record.modelVersion,
            status: "active", n_samples: trained.samples, training_seconds: trained.seconds, score_threshold: trained.threshold,
            parameters: [
                "metrics": .names(parsed.metrics), "window": .number(Double(parsed.window)), "n_estimators": .number(Double(p.nEstimators)),
                "max_samples": p.maxSamples.map { .number(Double($0)) } ?? .none, "max_features": .number(p.maxFeatures),
                "contamination": p.contamination.map { .number($0) } ?? .none, "seed": .number(Double(p.seed)),
            ])
        // Sorted keys: `parameters` is a dictionary, and a replay must give the same bytes. Every
        // number here is finite (counts, seconds, a threshold in [0, 1]), so encoding cannot fail.
        let encoder = JSONEncoder.api
        encoder.outputFormatting.insert(.sortedKeys)
        return ByteBuffer(data: (try? encoder.encode(answer)) ?? Data("{}".utf8))
    }

    struct ModelsAnswer: ResponseEncodable {
        struct Row: Encodable {
            let id: Int64?
            let model_id: String
            let model_type: String
            let model_version: String
            let asset_id: String?
            let training_date: String
            let status: String
            let metrics: [String: Double]
            let parameters: String
            let created_at: String?
        }
        let models: [Row]
    }

    @Sendable func models(request: Request, context: AppRequestContext) async throws -> ModelsAnswer {
        let asset = request.uri.queryParameters["asset_id"].map(String.init)
        if let asset, !AnomalyRequests.isAssetId(asset) {
            throw AnomalyRequests.failure([.init(field: "asset_id", problem: "is not a valid asset id")])
        }
        let rows = try await service.models(tenantId: context.tenant, assetId: asset)
        return ModelsAnswer(
            models: rows.map { row in
                let r = row.record
                return ModelsAnswer.Row(
                    id: r.id, model_id: row.publicId, model_type: r.modelType, model_version: r.modelVersion, asset_id: r.assetId,
                    training_date: ModelInfo.timestamp(r.trainingDate), status: r.status, metrics: row.metrics, parameters: r.parameters,
                    created_at: r.createdAt.map(ModelInfo.timestamp))
            })
    }

    /// `{asset_id}`, `hours` (default 24) and `limit` of the history routes, problems into `details`.
    static func window(
        _ request: Request, _ context: AppRequestContext, defaultLimit: Double, _ details: inout [APIError.Detail]
    ) -> (asset: String, hours: Double, limit: Int) {
        let asset = context.parameters.get("asset_id") ?? ""
        if !AnomalyRequests.isAssetId(asset) { details.append(.init(field: "asset_id", problem: "is not a valid asset id")) }
        let hours = request.queryNumber("hours", range: 0.001...87_600, default: 24, &details)
        let limit = Int(request.queryNumber("limit", range: 1...10_000, default: defaultLimit, &details))
        return (asset, hours, limit)
    }
}
