import Artifacts
import Foundation
import Logging
import Storage

/// Records every hazard-model activation in `model_metadata` (`model_type = 'xgboost_hazard'`,
/// version = run id), so the table says which run served when. A failed write is logged; the
/// activation itself has already happened and stands.
struct ActivationAudit: Sendable {
    let log: any ModelAuditLog
    let logger: Logger

    func record(_ model: HazardModel, reason: String) async {
        await write(model, modelType: "xgboost_hazard", extra: ["reason": reason])
    }

    /// A champion/challenger experiment's start or end (`model_type = 'xgboost_challenger'`,
    /// version = the challenger's run id): `event` is `started`, `ended`, `stopped` or `promoted`.
    /// Not an activation: `/models/history` lists only those.
    func recordExperiment(_ challenger: HazardModel, event: String, reason: String) async {
        await write(challenger, modelType: "xgboost_challenger", extra: ["reason": reason, "event": event])
    }

    private func write(_ model: HazardModel, modelType: String, extra: [String: String]) async {
        let run = model.location.run
        let metrics = AnomalyService.json(run.metrics.mapValues(\.value))
        let parameters = JSONWriter.sortedObject(
            [
                "model_uri": model.location.uri, "experiment": run.experimentName,
                "booster_format": model.booster.file.format.rawValue, "scaler": model.scaler.kind,
            ].merging(extra) { _, new in new })
        do {
            try await log.recordActivation(
                ModelRecord(
                    tenantId: "default", modelType: modelType, modelVersion: run.id, assetId: nil,
                    trainingDate: run.startTime.map { Date(timeIntervalSince1970: $0 / 1000) } ?? model.loadedAt,
                    metrics: metrics, parameters: parameters, artifactPath: model.location.boosterFile.path))
        } catch {
            logger.error("could not record the model's audit entry", metadata: ["run_id": "\(run.id)", "type": "\(modelType)", "error": "\(error)"])
        }
    }

    /// What served when, newest first.
    struct Activation: Encodable, Sendable {
        let run_id: String
        let model_uri: String?
        let experiment: String?
        let reason: String?
        let activated_at: String?
        let serving: Bool
    }

    func history(limit: Int) async throws -> [Activation] {
        try await log.activations(tenantId: "default", limit: limit).map { row in
            let parameters = (try? JSONSerialization.jsonObject(with: Data(row.parameters.utf8))) as? [String: Any] ?? [:]
            return Activation(
                run_id: row.modelVersion, model_uri: parameters["model_uri"] as? String, experiment: parameters["experiment"] as? String,
                reason: parameters["reason"] as? String, activated_at: row.createdAt.map(ModelInfo.timestamp), serving: row.status == "active")
        }
    }
}
