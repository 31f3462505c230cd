import AnomalyDetection
import EMSCore
import Foundation
import Storage

/// EMS anomaly detection: scores samples with the asset's model (or statistical fallbacks),
/// persists before answering, trains and replaces models, and reads back history and models.
/// Where the work runs follows `Offload`.
struct AnomalyService: Sendable {
    static let modelType = "isolation_forest"

    let store: any AnomalyStore
    let threshold: Double
    let minTrainingSamples: Int
    /// Decoded models per asset; a private one unless the application shares its own.
    var cache = AssetModelCache(budgetBytes: 64 * 1024 * 1024, telemetry: nil)
    /// How scores become episodes; `outbox` is on only when EMS Core is configured.
    var episodes = EpisodePolicy()
    /// Told after a commit that wrote outbox rows (the deliverer looks at once).
    var onEpisodeChanges: (@Sendable () -> Void)?
    /// EMS Core's metrics of an asset in `[from, to)`, for `"source": "ems_core"` training; nil
    /// when the integration is off.
    var emsMetrics: (@Sendable (_ assetId: String, _ from: Date, _ to: Date) async throws -> [MetricSample])?

    struct Scored: Sendable {
        let modelId: String?
        let threshold: Double
        let detections: [Detection]
    }

    /// The public id of a stored model.
    static func publicId(_ record: ModelRecord) -> String { "iforest-\(record.id ?? 0)" }

    /// The asset's active model, decoded: from `cache`, else read and decoded once.
    func assetModel(tenantId: String, assetId: String) async throws -> AssetModelCache.Entry {
        let key = AssetModelCache.Key(tenantId: tenantId, assetId: assetId)
        if let hit = cache.lookup(key) { return hit }
        let generation = cache.generation
        let entry: AssetModelCache.Entry
        if let record = try await store.activeModel(tenantId: tenantId, assetId: assetId, modelType: Self.modelType), let artifact = record.artifact {
            let parameters = try JSONDecoder().decode(StoredParameters.self, from: Data(record.parameters.utf8))
            let model = try await Offload.run(.blocking) {
                try AssetModel(serialized: artifact, metrics: parameters.metrics, window: parameters.window)
            }
            var kept = record
            kept.artifact = nil
            let bytes = model.forest.memoryBytes + artifact.count / 4 + AssetModelCache.emptyEntryBytes
            entry = AssetModelCache.Entry(record: kept, model: model, parameters: parameters, bytes: bytes)
        } else {
            entry = AssetModelCache.Entry(record: nil, model: nil, parameters: nil, bytes: AssetModelCache.emptyEntryBytes)
        }
        cache.insert(entry, for: key, readAt: generation)
        return entry
    }

    /// Scores the request's samples with the asset's model (or the statistical fallbacks); writes nothing.
    func score(tenantId: String, request: AnomalyRequests.Detect) async throws -> Scored {
        let cached = try await assetModel(tenantId: tenantId, assetId: request.assetId)
        let record = cached.record
        var metrics: [String]
        var detector: AssetDetector
        if let model = cached.model, let parameters = cached.parameters {
            metrics = parameters.metrics
            let missing = request.samples.enumerated().flatMap { i, s in
                metrics.filter { s.metrics[$0] == nil }.map { APIError.Detail(index: i, field: "metrics.\($0)", problem: "is missing (the asset's model uses it)") }
            }
            guard missing.isEmpty else { throw ServiceError.invalid(missing) }
            detector = AssetDetector(model: model, threshold: model.threshold(contamination: parameters.contamination, default: threshold))
        } else {
            metrics = Array(Set(request.samples.flatMap(\.metrics.keys))).sorted()
            detector = AssetDetector(metrics: metrics, window: FeatureWindow(metrics: metrics, window: 0), forest: nil, threshold: threshold)
        }
        let first = request.samples.map(\.timestamp).min()
        let historyCount = max(AssetDetector.statisticalHistory, detector.window.window)
        let history = try await store.recentSamples(tenantId: tenantId, assetId: request.assetId, before: first, limit: historyCount)
        let rows = { (samples: [MetricSample]) in samples.map { s in metrics.map { s.metrics[$0] ?? .nan } } }
        let historyRows = rows(history), sampleRows = rows(request.samples)
        let historyTimes = history.map(\.timestamp), sampleTimes = request.samples.map(\.timestamp)
        let finalDetector = detector
        let detections = try await Offload.run(.detect(samples: request.samples.count)) {
            finalDetector.score(history: historyRows, samples: sampleRows, historyTimes: historyTimes, sampleTimes: sampleTimes)
        }
        return Scored(modelId: record.map(Self.publicId), threshold: detector.threshold, detections: detections)
    }

    /// Stores the samples and their scores in one transaction, with the episodes and outbox rows
    /// they cause, and `receipt` when the request had a key.
    func persist(tenantId: String, request: AnomalyRequests.Detect, scored: Scored, receipt: IdempotencyReceipt?) async throws {
        var order = SortedPairs()
        let scores = zip(request.samples, scored.detections).map { sample, d in
            AnomalyScoreRecord(
                tenantId: tenantId, assetId: request.assetId, metricName: d.metric ?? "all", score: d.score, isAnomaly: d.isAnomaly,
                threshold: scored.threshold, method: d.method.rawValue, modelId: scored.modelId,
                metadata: MetricsJSON.encode(d.components, order: &order), timestamp: sample.timestamp)
        }
        let changes = try await store.recordDetection(
            tenantId: tenantId, assetId: request.assetId, samples: request.samples, scores: scores, episodes: episodes, receipt: receipt)
        if !changes.isEmpty, episodes.outbox { onEpisodeChanges?() }
    }

    struct Trained: Sendable {
        let record: ModelRecord
        let samples: Int
        let seconds: Double
        let threshold: Double
    }

    /// What a stored model needs besides its forest.
    struct StoredParameters: Codable, Sendable {
        let metrics: [String]
        let window: Int
        let n_estimators: Int
        let max_samples: Int?
        let max_features: Double
        let contamination: Double?
        let seed: UInt64
    }

    /// Trains the asset's model and saves it as active; `receipt` makes the stored answer from the
    /// saved model, in the same transaction.
    func train(
        tenantId: String, request: AnomalyRequests.Train, receipt: (@Sendable (Trained) -> IdempotencyReceipt)? = nil
    ) async throws -> Trained {
        let samples: [MetricSample]
        if let given = request.samples {
            samples = given.sorted { $0.timestamp < $1.timestamp }
        } else if request.source == .emsCore, let from = request.from, let to = request.to {
            samples = try await samplesFromEMSCore(tenantId: tenantId, assetId: request.assetId, from: from, to: to)
        } else {
            samples = try await store.samples(tenantId: tenantId, assetId: request.assetId, from: request.from, to: request.to, limit: 1_000_000)
        }
        let usable = samples.filter { s in request.metrics.allSatisfy { s.metrics[$0] != nil } }
        guard usable.count >= minTrainingSamples else {
            throw ServiceError(
                .unprocessable, code: "not_enough_samples",
                "training needs at least \(minTrainingSamples) samples with every metric (MIN_TRAINING_SAMPLES); got \(usable.count)")
        }
        let window = FeatureWindow(metrics: request.metrics, window: request.window)
        let values = usable.map { s in request.metrics.map { s.metrics[$0]! } }
        let parameters = request.parameters
        let started = DispatchTime.now().uptimeNanoseconds
        let model = try await Offload.run(.blocking) {
            try AssetModel.fit(values, times: usable.map(\.timestamp), metrics: request.metrics, window: request.window, parameters: parameters)
        }
        let forest = model.forest
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let threshold = model.threshold(contamination: parameters.contamination, default: self.threshold)
        let flagged = model.trainingScores.filter { $0 >= threshold }.count
        let stored = StoredParameters(
            metrics: request.metrics, window: request.window, n_estimators: parameters.nEstimators, max_samples: forest.samplesPerTree,
            max_features: parameters.maxFeatures, contamination: parameters.contamination, seed: parameters.seed)
        let samplesUsed = usable.count
        var savedReceipt: (@Sendable (ModelRecord) -> IdempotencyReceipt)?
        if let receipt {
            savedReceipt = { saved in receipt(Trained(record: saved, samples: samplesUsed, seconds: seconds, threshold: threshold)) }
        }
        let record = try await store.saveModel(
            ModelRecord(
                tenantId: tenantId, modelType: Self.modelType, modelVersion: ModelInfo.timestamp(Date()), assetId: request.assetId,
                trainingDate: Date(),
                metrics: Self.json(["n_samples": Double(usable.count), "training_seconds": seconds, "score_threshold": threshold,
                                    "train_anomaly_rate": Double(flagged) / Double(usable.count)]),
                parameters: String(decoding: try JSONEncoder().encode(stored), as: UTF8.self),
                artifact: model.serialized(),
                metadata: Self.json(["features": Double(window.featureCount), "format_version": Double(IsolationForest.formatVersion)])),
            receipt: savedReceipt)
        // Here at once; other replicas when the store's announcement reaches them.
        cache.invalidate(tenantId: tenantId, assetId: request.assetId)
        return Trained(record: record, samples: samplesUsed, seconds: seconds, threshold: threshold)
    }

    /// Pages through EMS Core's metrics and stores the samples the asset has no sample at the
    /// same timestamp of yet; returns every fetched sample, oldest first.
    func samplesFromEMSCore(tenantId: String, assetId: String, from: Date, to: Date) async throws -> [MetricSample] {
        guard let emsMetrics else {
            throw ServiceError(.unprocessable, code: "ems_core_not_configured", "training from EMS Core needs EMS_CORE_URL")
        }
        let fetched: [MetricSample]
        do {
            fetched = try await emsMetrics(assetId, from, to)
        } catch let error as EMSCoreError {
            throw ServiceError(error)
        }
        let stored = try await store.samples(tenantId: tenantId, assetId: assetId, from: from, to: to, limit: 10_000_000)
        let known = Set(stored.map { Keyset.micros($0.timestamp) })
        let new = fetched.filter { !known.contains(Keyset.micros($0.timestamp)) }
        if !new.isEmpty {
            try await store.recordDetection(tenantId: tenantId, assetId: assetId, samples: new, scores: [])
        }
        return fetched
    }

    static func json(_ values: [String: Double]) -> String {
        MetricsJSON.encode(values)
    }

    /// A stored score with its per-detector details decoded.
    struct HistoryRow: Sendable {
        let record: AnomalyScoreRecord
        let details: [String: Double]
    }

    func history(_ query: ScoreQuery) async throws -> [HistoryRow] {
        try await store.scores(query).map { HistoryRow(record: $0, details: MetricsJSON.decode($0.metadata)) }
    }

    func sync(tenantId: String, afterId: Int64, settledBefore: Date, limit: Int) async throws -> [HistoryRow] {
        try await store.scores(tenantId: tenantId, afterId: afterId, settledBefore: settledBefore, limit: limit).map {
            HistoryRow(record: $0, details: MetricsJSON.decode($0.metadata))
        }
    }

    /// A stored model row with its metrics decoded and its public id.
    struct ModelRow: Sendable {
        let record: ModelRecord
        let publicId: String
        let metrics: [String: Double]
    }

    func models(tenantId: String, assetId: String?) async throws -> [ModelRow] {
        try await store.models(tenantId: tenantId, assetId: assetId).map { r in
            ModelRow(record: r, publicId: r.modelType == Self.modelType ? Self.publicId(r) : r.modelVersion, metrics: MetricsJSON.decode(r.metrics))
        }
    }

    func assets(tenantId: String) async throws -> [AssetSummary] {
        try await store.assets(tenantId: tenantId)
    }

    /// The newest `limit` stored samples since `since`, oldest first.
    func samples(tenantId: String, assetId: String, since: Date, limit: Int) async throws -> [MetricSample] {
        try await store.recentSamples(tenantId: tenantId, assetId: assetId, before: nil, limit: limit).filter { $0.timestamp >= since }
    }

    func samples(tenantId: String, assetId: String, from: Date?, to: Date?, limit: Int) async throws -> [MetricSample] {
        try await store.samples(tenantId: tenantId, assetId: assetId, from: from, to: to, limit: limit)
    }
}
