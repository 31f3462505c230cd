import AnomalyDetection
import EMSCore
import Foundation
import Hummingbird

/// Probes (`/health`, `/ready`: no credentials, no rate limit), the served model's health
/// (`/model-health`, scope `metrics:read`) and the API document (`/openapi.json`, open).
struct HealthController {
    let models: ModelService
    let database: any StoreDatabase
    let fleet: FleetCoordinator
    /// EMS Core's circuit breaker, when the integration is on.
    var emsBreaker: (@Sendable () -> CircuitBreaker.State)?

    struct Health: ResponseEncodable {
        let status: String
    }

    struct Readiness: ResponseEncodable {
        let status: String
        let model_loaded: Bool
        let run_id: String?
        let store: String?
        /// `closed`, `half_open` or `open`; absent when EMS Core is not configured.
        let ems_core: String?
    }

    struct ModelHealth: ResponseEncodable {
        let status: String
        let run_id: String
        let model_uri: String
        let loaded_at: String
        let requests: Int
        let readings: Int
        let hazardous: Int
        let failures: Int
        let swaps: Int
        let last_prediction_at: String?
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.group().add(middleware: access.open).get("openapi.json") { _, _ -> Response in
            let body = OpenAPIDocument.json(featureNames: models.active?.featureNames ?? [])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        // Traffic counts across every tenant: for a credential that may read metrics, not for probes.
        group.group().add(middleware: access.requires(.metricsRead)).get("model-health") { _, _ -> ModelHealth in
            guard let model = models.active else { throw ServiceError.noModel }
            let traffic = models.trafficSnapshot
            return ModelHealth(
                status: traffic.failures == 0 ? "healthy" : "degraded", run_id: model.runId, model_uri: model.location.uri,
                loaded_at: ModelInfo.timestamp(model.loadedAt), requests: traffic.requests, readings: traffic.readings,
                hazardous: traffic.hazardous, failures: traffic.failures, swaps: traffic.swaps,
                last_prediction_at: traffic.lastPredictionAt.map(ModelInfo.timestamp))
        }
        group.get("health") { _, _ in Health(status: "ok") }
        group.get("ready") { _, _ -> Readiness in
            guard let model = models.active else { throw ServiceError.noModel }
            do { try await database.ping() } catch {
                throw ServiceError(.unavailable, code: "unavailable", "the \(database.backend) store is not reachable")
            }
            if let reason = fleet.divergedReason {
                throw ServiceError(.unavailable, code: "diverged", "this replica does not serve the fleet's model: \(reason)")
            }
            // EMS Core down is degraded, not unready: detection goes on, the outbox keeps the changes.
            let breaker = emsBreaker?()
            return Readiness(
                status: breaker == nil || breaker == .closed ? "ready" : "degraded", model_loaded: true, run_id: model.runId, store: database.backend,
                ems_core: breaker?.rawValue)
        }
    }
}
