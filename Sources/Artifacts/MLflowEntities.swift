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

    public init(id: String, name: String, lifecycleStage: String, creationTime: Double?) {
        self.id = id
        self.name = name
        self.lifecycleStage = lifecycleStage
        self.creationTime = creationTime
    }
}

/// One value of a run metric.
public struct Metric: Sendable, Equatable, Codable {
    public let value: Double
    /// Milliseconds since the epoch.
    public let timestamp: Int64
    public let step: Int64

    public init(value: Double, timestamp: Int64, step: Int64) {
        self.value = value
        self.timestamp = timestamp
        self.step = step
    }
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

    /// A run read from somewhere other than a file store (a backend database, a tracking server):
    /// `directory` and `artifactsDirectory` are then the local folder its artifacts were found or
    /// downloaded in.
    public init(
        id: String, name: String?, experimentId: String, experimentName: String, status: String, lifecycleStage: String,
        startTime: Double?, endTime: Double?, recordedArtifactURI: String?, directory: URL, artifactsDirectory: URL?,
        params: [String: String], metrics: [String: Metric], tags: [String: String]
    ) {
        self.id = id
        self.name = name
        self.experimentId = experimentId
        self.experimentName = experimentName
        self.status = status
        self.lifecycleStage = lifecycleStage
        self.startTime = startTime
        self.endTime = endTime
        self.recordedArtifactURI = recordedArtifactURI
        self.directory = directory
        self.artifactsDirectory = artifactsDirectory
        self.params = params
        self.metrics = metrics
        self.tags = tags
    }

    /// The same run with its artifacts found in a local folder.
    public func withArtifacts(in folder: URL) -> Run {
        Run(
            id: id, name: name, experimentId: experimentId, experimentName: experimentName, status: status,
            lifecycleStage: lifecycleStage, startTime: startTime, endTime: endTime, recordedArtifactURI: recordedArtifactURI,
            directory: folder.deletingLastPathComponent(), artifactsDirectory: folder, params: params, metrics: metrics, tags: tags)
    }

    public static func statusName(_ value: Any?) -> String {
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

    public init(name: String, versions: [ModelVersion], aliases: [String: Int]) {
        self.name = name
        self.versions = versions
        self.aliases = aliases
    }
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

    public init(
        name: String, version: Int, runId: String?, source: String?, modelId: String?, stage: String?, status: String?
    ) {
        self.name = name
        self.version = version
        self.runId = runId
        self.source = source
        self.modelId = modelId
        self.stage = stage
        self.status = status
    }

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

        public init(name: String, version: Int, alias: String?) {
            self.name = name
            self.version = version
            self.alias = alias
        }
    }

    /// The reference that was resolved (`runs:/...`, `models:/...@champion`, a run id).
    public var uri: String
    public let run: Run
    /// The folder holding `MLmodel`.
    public let modelDirectory: URL
    public let boosterFile: URL
    public let mlmodel: MLmodel
    public let scalerFile: URL?
    public let loggedModelId: String?
    public var registry: Registry?
}
