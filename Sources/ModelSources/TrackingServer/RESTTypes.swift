import Artifacts
import Foundation

/// The tracking server's JSON, as far as this service reads it (MLflow 2.x and 3.x answer the
/// same shapes; fields one of them lacks are optional).

/// An int64 MLflow may send as a JSON number or, from some proxies and versions, a string.
struct FlexibleInt: Decodable, Sendable {
    let value: Int64
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            value = number
        } else if let text = try? container.decode(String.self), let number = Int64(text) {
            value = number
        } else if let double = try? container.decode(Double.self), let whole = Int64(exactly: double.rounded(.towardZero)) {
            // `Int64(exactly:)`: a server's 1e300 is refused, where `Int64(double)` would trap.
            value = whole
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an integer")
        }
    }
}

struct KeyValue: Decodable, Sendable {
    let key: String
    let value: String?
}

struct RESTMetric: Decodable, Sendable {
    let key: String
    let value: Double?
    let timestamp: FlexibleInt?
    let step: FlexibleInt?
}

struct RESTRun: Decodable, Sendable {
    struct Info: Decodable, Sendable {
        let run_id: String?
        let run_uuid: String?
        let run_name: String?
        let experiment_id: String
        let status: String?
        let start_time: FlexibleInt?
        let end_time: FlexibleInt?
        let artifact_uri: String?
        let lifecycle_stage: String?
    }
    struct DataPart: Decodable, Sendable {
        let metrics: [RESTMetric]?
        let params: [KeyValue]?
        let tags: [KeyValue]?
    }
    struct Outputs: Decodable, Sendable {
        struct ModelOutput: Decodable, Sendable {
            let model_id: String
        }
        let model_outputs: [ModelOutput]?
    }
    let info: Info
    let data: DataPart?
    let outputs: Outputs?

    var id: String { info.run_id ?? info.run_uuid ?? "" }

    func run(experimentName: String, folder: URL) -> Run {
        let tags = Dictionary((data?.tags ?? []).map { ($0.key, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        return Run(
            id: id, name: info.run_name ?? tags["mlflow.runName"], experimentId: info.experiment_id, experimentName: experimentName,
            status: info.status ?? "UNKNOWN", lifecycleStage: info.lifecycle_stage ?? "active",
            startTime: info.start_time.map { Double($0.value) }, endTime: info.end_time.map { Double($0.value) },
            recordedArtifactURI: info.artifact_uri, directory: folder, artifactsDirectory: nil,
            params: Dictionary((data?.params ?? []).map { ($0.key, $0.value ?? "") }, uniquingKeysWith: { _, last in last }),
            metrics: Dictionary(
                (data?.metrics ?? []).compactMap { m in
                    m.value.map { (m.key, Metric(value: $0, timestamp: m.timestamp?.value ?? 0, step: m.step?.value ?? 0)) }
                }, uniquingKeysWith: { _, last in last }),
            tags: tags)
    }
}

struct RunAnswer: Decodable { let run: RESTRun }

struct RunsPage: Decodable {
    let runs: [RESTRun]?
    let next_page_token: String?
}

struct RESTExperiment: Decodable, Sendable {
    let experiment_id: String
    let name: String
    let lifecycle_stage: String?
    let creation_time: FlexibleInt?
}

struct ExperimentsPage: Decodable {
    let experiments: [RESTExperiment]?
    let next_page_token: String?
}

struct RESTModelVersion: Decodable, Sendable {
    let name: String
    let version: String
    let source: String?
    let run_id: String?
    let current_stage: String?
    let status: String?
    let model_id: String?

    func modelVersion() -> ModelVersion? {
        guard let number = Int(version) else { return nil }
        let modelId = model_id ?? source.flatMap { $0.hasPrefix("models:/m-") ? String($0.dropFirst("models:/".count)) : nil }
        return ModelVersion(
            name: name, version: number, runId: run_id?.isEmpty == true ? nil : run_id, source: source, modelId: modelId,
            stage: current_stage, status: status)
    }
}

struct ModelVersionAnswer: Decodable { let model_version: RESTModelVersion }

struct ModelVersionsPage: Decodable {
    let model_versions: [RESTModelVersion]?
    let next_page_token: String?
}

struct RESTRegisteredModel: Decodable, Sendable {
    struct Alias: Decodable, Sendable {
        let alias: String
        let version: String
    }
    let name: String
    let aliases: [Alias]?
}

struct RegisteredModelsPage: Decodable {
    let registered_models: [RESTRegisteredModel]?
    let next_page_token: String?
}

struct LoggedModelAnswer: Decodable {
    struct Model: Decodable {
        struct Info: Decodable {
            let model_id: String
            let experiment_id: String
            let name: String?
            let source_run_id: String?
            let artifact_uri: String?
            let creation_timestamp_ms: FlexibleInt?
        }
        let info: Info
    }
    let model: Model

    var record: LoggedModelRecord {
        let info = model.info
        return LoggedModelRecord(
            id: info.model_id, name: info.name, experimentId: info.experiment_id, sourceRunId: info.source_run_id,
            artifactLocation: info.artifact_uri, creationTime: Double(info.creation_timestamp_ms?.value ?? 0))
    }
}
