import AnomalyDetection
import Artifacts
import Foundation
import Logging

/// Records every hazard-model activation in `model_metadata` (`model_type = 'xgboost_hazard'`,
/// version = run id), so the table says which run served when. A failed write is logged; the
/// activation itself has already happened and stands.
struct ActivationAudit: Sendable {
    let log: any ModelAuditLog
    let logger: Logger

    func record(_ model: HazardModel, reason: String) async {
        let run = model.location.run
        let metrics = AnomalyService.json(run.metrics.mapValues(\.value))
        let parameters = JSONWriter.sortedObject([
            "model_uri": model.location.uri, "reason": reason, "experiment": run.experimentName,
            "booster_format": model.booster.file.format.rawValue, "scaler": model.scaler.kind,
        ])
        do {
            try await log.recordActivation(
                ModelRecord(
                    tenantId: "default", modelType: "xgboost_hazard", modelVersion: run.id, assetId: nil,
                    trainingDate: run.startTime.map { Date(timeIntervalSince1970: $0 / 1000) } ?? model.loadedAt,
                    metrics: metrics, parameters: parameters, artifactPath: model.location.boosterFile.path))
        } catch {
            logger.error("could not record the model activation", metadata: ["run_id": "\(run.id)", "error": "\(error)"])
        }
    }
}
