import Artifacts
import Foundation
import Hummingbird
import Storage

/// `GET /models` item.
struct RunSummary: Codable, Sendable {
    let run_id: String
    let run_name: String?
    let experiment_id: String
    let experiment: String
    let status: String
    let start_time: String?
    let end_time: String?
    let params: [String: String]
    let metrics: [String: Double]
    let tags: [String: String]
    let model_uri: String?
    let model_format: String?
    /// Nil when the source cannot tell without downloading (a tracking server).
    let servable: Bool?
    let reason: String?
    let active: Bool

    init(run: Run, servability: Servability?, activeRunId: String?) {
        run_id = run.id
        run_name = run.name
        experiment_id = run.experimentId
        experiment = run.experimentName
        status = run.status
        start_time = run.startTime.map { ModelInfo.timestamp(Date(timeIntervalSince1970: $0 / 1000)) }
        end_time = run.endTime.map { ModelInfo.timestamp(Date(timeIntervalSince1970: $0 / 1000)) }
        params = run.params
        metrics = run.metrics.mapValues(\.value)
        tags = run.tags.filter { !$0.key.hasPrefix("mlflow.log-model") }
        active = run.id == activeRunId
        model_uri = servability?.modelURI ?? "runs:/\(run.id)"
        model_format = servability?.modelFormat
        servable = servability?.servable
        reason = servability == nil ? "not checked: the source's artifacts are downloaded on activation" : servability?.reason
    }
}

struct RunList: ResponseCodable {
    /// Where the models come from (never credentials).
    let source: String
    let experiments: [ExperimentSummary]
    let runs: [RunSummary]
    let registered_models: [RegisteredModelSummary]
    /// Present while runs or registered models remain: pass it back as `page_token`.
    let next_page_token: String?
}

struct ExperimentSummary: Codable, Sendable {
    let experiment_id: String
    let name: String
    let lifecycle_stage: String

    init(_ experiment: Experiment) {
        experiment_id = experiment.id
        name = experiment.name
        lifecycle_stage = experiment.lifecycleStage
    }
}

/// `GET /models` paging over two listings at once: each side's own token, and whether it is done.
/// Opaque to clients (base64url JSON); a token that does not decode is a 400.
struct ListToken: Codable {
    let runs: String?
    let models: String?
    let runsDone: Bool
    let modelsDone: Bool

    init(runs: String?, models: String?, runsDone: Bool, modelsDone: Bool) {
        self.runs = runs
        self.models = models
        self.runsDone = runsDone
        self.modelsDone = modelsDone
    }

    init(decoding text: String) throws {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard text.utf8.count <= 4096, let data = Data(base64Encoded: base64),
            let token = try? JSONDecoder().decode(ListToken.self, from: data)
        else { throw APIError.validation("page_token is not a token this server gave") }
        self = token
    }

    var encoded: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

struct RegisteredModelSummary: Codable, Sendable {
    struct Version: Codable, Sendable {
        let version: Int
        let run_id: String?
        let source: String?
    }
    let name: String
    let versions: [Version]
    let aliases: [String: Int]

    init(_ model: RegisteredModel) {
        name = model.name
        versions = model.versions.map { Version(version: $0.version, run_id: $0.runId, source: $0.source) }
        aliases = model.aliases
    }
}

/// `GET /models/active` and the answer to `POST /models/activate`.
struct ActiveModelDescription: ResponseCodable {
    struct Booster: Codable, Sendable {
        let file: String
        let format: String
        let written_by_xgboost: String?
        let trees: Int
        let features: Int
        let objective: String
        let base_score: Double
        let base_score_corrected: Bool
    }
    struct Registry: Codable, Sendable {
        let name: String
        let version: Int
        let alias: String?
    }

    let run_id: String
    let run_name: String?
    let experiment: String
    let model_uri: String
    let logged_model_id: String?
    let registered_model: Registry?
    let feature_names: [String]
    let scaler: String
    let booster: Booster
    let xgboost_library_version: String
    let mlflow_version: String?
    let loaded_at: String
    let load_ms: Double
    let checks: [String]
    /// The run's logged metrics (their latest values).
    let metrics: [String: Double]
    /// `compiled` or `c-api`, and why (PREDICTOR, and the load-time check against the C API).
    let predictor: String
    let predictor_reason: String
    let threshold: Double
    /// The followed alias's target that failed its checks and is not served, and why.
    let refused: Refused?
    /// This replica's place in the fleet: the version it serves next to the fleet's.
    var fleet: FleetView?
    /// Present while the model serves from the cache because the source could not be reached.
    var from_cache: FromCache?
    /// Present while a champion/challenger experiment runs (or the guard stopped the last one):
    /// details at `GET /models/challenger`.
    var challenger: ChallengerBrief?

    struct ChallengerBrief: Codable, Sendable {
        let version: Int64
        let mode: String
        let status: String
        let run_id: String
    }

    struct FromCache: Codable, Sendable {
        let reference: String
        let cached_at: String
        let reason: String

        init(_ cached: ModelService.CachedServing) {
            reference = cached.reference
            cached_at = ModelInfo.timestamp(cached.cachedAt)
            reason = cached.reason
        }
    }

    struct Refused: Codable, Sendable {
        let reference: String
        let target: String
        let version: Int
        let reason: String
        let at: String
    }

    init(_ model: HazardModel, threshold: Double, refused: ModelService.Refusal? = nil) {
        self.refused = refused.map {
            Refused(reference: $0.reference, target: $0.target, version: $0.version, reason: $0.reason, at: ModelInfo.timestamp($0.at))
        }
        run_id = model.runId
        run_name = model.location.run.name
        experiment = model.location.run.experimentName
        model_uri = model.location.uri
        logged_model_id = model.location.loggedModelId
        registered_model = model.location.registry.map { Registry(name: $0.name, version: $0.version, alias: $0.alias) }
        feature_names = model.featureNames
        scaler = model.scaler.kind
        booster = Booster(
            file: model.location.boosterFile.lastPathComponent, format: model.booster.file.format.rawValue,
            written_by_xgboost: model.booster.file.writerVersionString ?? model.location.mlmodel.xgboost?.xgbVersion,
            trees: model.booster.boostedRounds, features: model.booster.featureCount, objective: model.booster.objective,
            base_score: model.booster.baseScore, base_score_corrected: model.booster.baseScoreCorrected)
        xgboost_library_version = XGBoostLibrary.versionString
        mlflow_version = model.location.mlmodel.mlflowVersion
        loaded_at = ModelInfo.timestamp(model.loadedAt)
        load_ms = (model.loadSeconds * 1e5).rounded() / 100
        checks = model.checks
        metrics = model.location.run.metrics.mapValues(\.value)
        predictor = model.predictor.rawValue
        predictor_reason = model.predictorReason
        self.threshold = threshold
    }
}

/// What the fleet asked for and what this replica serves (`GET /models/active`, `GET /fleet`).
struct FleetView: Codable, Sendable {
    struct Recorded: Codable, Sendable {
        let version: Int64
        let reference: String
        let run_id: String
        let updated_by: String
        let reason: String
        let updated_at: String

        init(_ state: FleetState) {
            version = state.version
            reference = state.reference
            run_id = state.runId
            updated_by = state.updatedBy
            reason = state.reason
            updated_at = ModelInfo.timestamp(state.updatedAt)
        }
    }

    /// `postgresql` when every replica on the database shares it; `local` (SQLite, memory) when
    /// this process is the whole fleet.
    let scope: String
    let replica_id: String
    /// The run this replica serves, and the fleet version it follows.
    let replica_run_id: String?
    let replica_version: Int64
    let in_sync: Bool
    let diverged_reason: String?
    /// What the fleet recorded; nil before anything was.
    let recorded: Recorded?

    init(_ fleet: FleetCoordinator) {
        let status = fleet.snapshot
        scope = fleet.store.isShared ? "postgresql" : "local"
        replica_id = fleet.identity.id
        replica_run_id = fleet.models.active?.runId
        replica_version = status.servedVersion
        diverged_reason = status.diverged
        recorded = status.fleet.map(Recorded.init)
        in_sync = status.diverged == nil && status.fleet.map { $0.version == status.servedVersion } ?? true
    }
}

/// `POST /models/activate` body: exactly one of the two.
struct ActivateRequest: Decodable {
    let run_id: String?
    let model_uri: String?
}

extension ActivateRequest {
    /// The run a body names (`/models/activate`, `/models/challenger`): exactly one of `run_id`
    /// and `model_uri`, else a 400.
    static func reference(runId: String?, modelURI: String?) throws -> String {
        switch (runId, modelURI) {
        case (let id?, nil): return id
        case (nil, let uri?): return uri
        default: throw APIError.validation("give exactly one of run_id and model_uri")
        }
    }
}
