import Foundation

/// One raw sample of an asset's metrics (`metric_samples`).
public struct MetricSample: Sendable, Equatable {
    public var timestamp: Date
    public var metrics: [String: Double]

    public init(timestamp: Date, metrics: [String: Double]) {
        self.timestamp = timestamp
        self.metrics = metrics
    }
}

/// One row of `anomaly_scores`.
public struct AnomalyScoreRecord: Sendable, Equatable {
    public var id: Int64?
    public var tenantId: String
    public var assetId: String
    public var metricName: String
    public var score: Double
    public var isAnomaly: Bool
    public var threshold: Double
    public var method: String
    public var modelId: String?
    /// A JSON object, as text.
    public var metadata: String
    public var timestamp: Date

    public init(
        id: Int64? = nil, tenantId: String, assetId: String, metricName: String, score: Double, isAnomaly: Bool,
        threshold: Double, method: String, modelId: String?, metadata: String = "{}", timestamp: Date
    ) {
        self.id = id
        self.tenantId = tenantId
        self.assetId = assetId
        self.metricName = metricName
        self.score = score
        self.isAnomaly = isAnomaly
        self.threshold = threshold
        self.method = method
        self.modelId = modelId
        self.metadata = metadata
        self.timestamp = timestamp
    }
}

/// One row of `model_metadata`: an anomaly model of an asset, or a hazard-model activation.
public struct ModelRecord: Sendable, Equatable {
    public var id: Int64?
    public var tenantId: String
    /// `isolation_forest` or `xgboost_hazard`.
    public var modelType: String
    public var modelVersion: String
    public var assetId: String?
    public var trainingDate: Date
    /// JSON objects, as text.
    public var metrics: String
    public var parameters: String
    /// `active` or `retired`.
    public var status: String
    public var artifact: [UInt8]?
    public var artifactPath: String?
    public var metadata: String
    public var createdAt: Date?

    public init(
        id: Int64? = nil, tenantId: String, modelType: String, modelVersion: String, assetId: String?, trainingDate: Date,
        metrics: String = "{}", parameters: String = "{}", status: String = "active", artifact: [UInt8]? = nil,
        artifactPath: String? = nil, metadata: String = "{}", createdAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.modelType = modelType
        self.modelVersion = modelVersion
        self.assetId = assetId
        self.trainingDate = trainingDate
        self.metrics = metrics
        self.parameters = parameters
        self.status = status
        self.artifact = artifact
        self.artifactPath = artifactPath
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// A filter for score history.
public struct ScoreQuery: Sendable {
    public var tenantId: String
    public var assetId: String
    public var since: Date?
    /// Rows strictly before this time.
    public var until: Date?
    public var metricName: String?
    public var anomaliesOnly: Bool
    /// The last row of the previous page (newest first): rows strictly after it in that order.
    public var after: (timestamp: Date, id: Int64)?
    public var limit: Int

    public init(
        tenantId: String, assetId: String, since: Date? = nil, until: Date? = nil, metricName: String? = nil, anomaliesOnly: Bool = false,
        after: (timestamp: Date, id: Int64)? = nil, limit: Int = 100
    ) {
        self.tenantId = tenantId
        self.assetId = assetId
        self.since = since
        self.until = until
        self.metricName = metricName
        self.anomaliesOnly = anomaliesOnly
        self.after = after
        self.limit = limit
    }
}

/// Metrics maps as JSON text, the same on both back ends.
public enum MetricsJSON {
    /// `{"a":1.5,"b":2}` with sorted keys; non-finite values are left out (JSON has none).
    /// Written by hand: JSONSerialization took 30% of a 10,000-sample detect (measured with perf).
    public static func encode(_ metrics: [String: Double]) -> String {
        var out = "{"
        var first = true
        for key in metrics.keys.sorted() {
            guard let value = metrics[key], value.isFinite else { continue }
            if !first { out += "," }
            first = false
            out += "\""
            for scalar in key.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\":"
            out += value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : value.description
        }
        return out + "}"
    }

    public static func decode(_ text: String) -> [String: Double] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}

/// A reading with its observed outcome (`hazard_feedback`): what `/models/active/performance`
/// scores the served model against.
public struct FeedbackRecord: Sendable, Equatable {
    public var id: Int64?
    public var tenantId: String
    /// The run that served when the feedback arrived.
    public var runId: String
    /// Raw feature values by name, so any later model can be scored on them.
    public var features: [String: Double]
    /// 1 = the module was hazardous, 0 = normal.
    public var outcome: Int
    /// What `runId` predicted for it.
    public var probability: Double
    public var moduleId: String?
    public var createdAt: Date?

    public init(
        id: Int64? = nil, tenantId: String, runId: String, features: [String: Double], outcome: Int, probability: Double,
        moduleId: String? = nil, createdAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.runId = runId
        self.features = features
        self.outcome = outcome
        self.probability = probability
        self.moduleId = moduleId
        self.createdAt = createdAt
    }
}
