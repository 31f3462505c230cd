import Foundation

/// An MLflow experiment (`mlruns/<id>/meta.yaml`).
public struct Experiment: Sendable, Equatable {
    public let id: String
    public let name: String
    public let lifecycleStage: String
    public let creationTime: Double?

    init(id: String, meta: [String: Any]) {
        self.id = id
        self.name = meta["name"] as? String ?? id
        self.lifecycleStage = meta["lifecycle_stage"] as? String ?? "active"
        self.creationTime = MLflowStore.number(meta["creation_time"])
    }
}

/// One value of a run metric.
public struct Metric: Sendable, Equatable {
    public let value: Double
    /// Milliseconds since the epoch.
    public let timestamp: Int64
    public let step: Int64
}

/// An MLflow run, as its folder records it.
public struct Run: Sendable {
    public let id: String
    public let name: String?
    public let experimentId: String
    public let experimentName: String
    /// `RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED`, `KILLED`.
    public let status: String
    public let lifecycleStage: String
    /// Milliseconds since the epoch.
    public let startTime: Double?
    public let endTime: Double?
    /// `artifact_uri` as written at training time; often a path on another machine, so never opened.
    public let recordedArtifactURI: String?
    public let directory: URL
    /// The run's `artifacts/` folder under the store root, if it exists.
    public let artifactsDirectory: URL?
    public let params: [String: String]
    /// Latest value per metric.
    public let metrics: [String: Metric]
    public let tags: [String: String]

    static func statusName(_ value: Any?) -> String {
        switch value {
        case let i as Int:
            return [1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"][i] ?? "UNKNOWN"
        case let s as String: return Int(s).map { statusName($0) } ?? s
        default: return "UNKNOWN"
        }
    }
}

/// A registered model in the MLflow model registry.
public struct RegisteredModel: Sendable {
    public let name: String
    public let versions: [ModelVersion]
    /// alias -> version number (`champion` -> 2).
    public let aliases: [String: Int]
}

/// One version of a registered model (`mlruns/models/<name>/version-<n>/meta.yaml`).
public struct ModelVersion: Sendable {
    public let name: String
    public let version: Int
    public let runId: String?
    /// `runs:/...`, `models:/m-...` or a path on the training machine.
    public let source: String?
    /// MLflow 3's logged-model id, when recorded.
    public let modelId: String?
    public let stage: String?
    public let status: String?

    init(name: String, version: Int, meta: [String: Any]) {
        self.name = name
        self.version = version
        self.runId = meta["run_id"] as? String
        self.source = meta["source"] as? String
        self.modelId = meta["model_id"] as? String
        self.stage = meta["current_stage"] as? String
        self.status = meta["status"] as? String
    }
}

/// Where a resolved model's files are: what `HazardModel` loads.
public struct ModelLocation: Sendable {
    /// Registry coordinates when the model was reached through the registry.
    public struct Registry: Sendable, Equatable {
        public let name: String
        public let version: Int
        public let alias: String?
    }

    /// The reference that was resolved (`runs:/...`, `models:/...@champion`, a run id).
    public internal(set) var uri: String
    public let run: Run
    /// The folder holding `MLmodel`.
    public let modelDirectory: URL
    public let boosterFile: URL
    public let mlmodel: MLmodel
    public let scalerFile: URL?
    public let loggedModelId: String?
    public internal(set) var registry: Registry?
}
