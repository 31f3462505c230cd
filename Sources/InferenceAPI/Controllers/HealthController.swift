import EMSCore
import Foundation
import Hummingbird
import Storage

/// Probes (`/health`, `/ready`: no credentials, no rate limit), the served model's health
/// (`/model-health`, scope `metrics:read`) and the API document (`/openapi.json`, open).
struct HealthController {
    let models: ModelService
    let database: any StoreDatabase
    let fleet: FleetCoordinator
    /// EMS Core delivery (its breaker, calls past their deadline), when the integration is on.
    var emsDelivery: (@Sendable () -> OutboxDeliverer.Status)?
    /// Hazard episode bookkeeping, when it is on.
    var hazardEpisodes: (@Sendable () -> HazardEpisodes.Status)?
    /// False in development mode (no credentials configured): the page then opens on the
    /// dashboard instead of asking to sign in with nothing to sign in with.
    var credentialsRequired = true

    struct Health: ResponseEncodable {
        let status: String
        let credentials_required: Bool
    }

    struct Readiness: ResponseEncodable {
        let status: String
        let model_loaded: Bool
        let run_id: String?
        let store: String?
        /// Whether the store answered this probe.
        let store_reachable: Bool
        /// `closed`, `half_open` or `open`; absent when EMS Core is not configured.
        let ems_core: String?
        /// Hazard episode bookkeeping; absent when `HAZARD_EPISODES` is off.
        let hazard_episodes: HazardEpisodeState?
        /// Present while the model serves from the cache because the source could not be reached.
        let model_from_cache: ActiveModelDescription.FromCache?
        /// What is degraded, in words (empty when ready).
        let degraded: [String]
    }

    struct HazardEpisodeState: ResponseEncodable {
        let queued_readings: Int
        let dropped_readings: Int
        let failure: String?
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
            let body = OpenAPIDocument.body(featureNames: models.active?.featureNames ?? [])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
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
        let credentialsRequired = self.credentialsRequired
        group.get("health") { _, _ in Health(status: "ok", credentials_required: credentialsRequired) }
        group.get("ready") { _, _ -> Readiness in
            guard let model = models.active else { throw ServiceError.noModel }
            if let reason = fleet.divergedReason {
                throw ServiceError(.unavailable, code: "diverged", "this replica does not serve the fleet's model: \(reason)")
            }
            // Predictions need the model only: a store or EMS Core that is down degrades the
            // replica (detection answers 503, deliveries wait in the outbox), it does not unready it.
            var degraded: [String] = []
            var reachable = true
            do { try await database.ping() } catch {
                reachable = false
                degraded.append("store: the \(database.backend) store is not reachable")
            }
            let delivery = emsDelivery?()
            degraded += delivery?.degraded ?? []
            let hazards = hazardEpisodes?()
            if let failure = hazards?.failure { degraded.append("hazard_episodes: recording waits for the store (\(failure))") }
            let cached = models.servedFromCache
            if let cached {
                degraded.append("model_source: serving the cached copy of \(cached.reference) from \(ModelInfo.timestamp(cached.cachedAt)); the source could not be reached")
            }
            return Readiness(
                status: degraded.isEmpty ? "ready" : "degraded", model_loaded: true, run_id: model.runId, store: database.backend,
                store_reachable: reachable, ems_core: delivery?.breaker.rawValue,
                hazard_episodes: hazards.map {
                    HazardEpisodeState(queued_readings: $0.queuedReadings, dropped_readings: $0.droppedReadings, failure: $0.failure)
                }, model_from_cache: cached.map(ActiveModelDescription.FromCache.init), degraded: degraded)
        }
    }
}
