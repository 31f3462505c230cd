import AnomalyDetection
import Artifacts
import Foundation
import Hummingbird

/// Model management, mounted on `/models`: `GET /models`, `GET /models/active`,
/// `POST /models/activate`, `GET /models/active/performance`.
struct ModelsController {
    let models: ModelService
    let feedback: FeedbackService
    let threshold: Double
    let audit: ActivationAudit
    let fleet: FleetCoordinator

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.requires(.modelsAdmin))
            .get(use: list)
            .get("active", use: active)
            .post("activate", use: activate)
            .get("active/performance", use: performance)
            .get("history", use: history)
    }

    struct HistoryAnswer: ResponseEncodable {
        let activations: [ActivationAudit.Activation]
    }

    /// The swap history: every activation recorded in the audit log, newest first.
    @Sendable func history(request: Request, context: AppRequestContext) async throws -> HistoryAnswer {
        HistoryAnswer(activations: try await audit.history(limit: 50))
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> RunList {
        let store = models.store
        let activeRunId = models.active?.runId
        return try await Offload.run(.blocking) {
            RunList(
                runs: try store.runs().map { RunSummary(run: $0, store: store, activeRunId: activeRunId) },
                registered_models: try store.registeredModels().map(RegisteredModelSummary.init))
        }
    }

    @Sendable func active(request: Request, context: AppRequestContext) async throws -> ActiveModelDescription {
        guard let model = models.active else { throw ServiceError.noModel }
        var description = ActiveModelDescription(model, threshold: threshold)
        description.fleet = FleetView(fleet)
        return description
    }

    @Sendable func activate(request: Request, context: AppRequestContext) async throws -> ActiveModelDescription {
        let expected = "the body must be {\"run_id\": \"...\"} or {\"model_uri\": \"models:/<name>@<alias>\"}"
        let parsed = try await request.decodeJSON(as: ActivateRequest.self, upTo: 64 * 1024, expected: expected)
        let reference: String
        switch (parsed.run_id, parsed.model_uri) {
        case (let id?, nil): reference = id
        case (nil, let uri?): reference = uri
        default:
            throw APIError.validation("give exactly one of run_id and model_uri")
        }
        let models = self.models
        let model: HazardModel
        do {
            model = try await Offload.run(.blocking) { try models.load(reference) }
        } catch let error as ArtifactError {
            context.logger.warning("activation refused", metadata: ["reference": "\(reference)", "reason": "\(error)"])
            throw error
        }
        // Loaded and checked here; recorded for the fleet, then served (by every replica that can load it).
        let state: FleetState
        do {
            state = try await fleet.publish(model, reference: reference, reason: "POST /models/activate \(reference)")
        } catch {
            context.logger.error("activation not recorded for the fleet", metadata: ["reference": "\(reference)", "error": "\(error)"])
            throw ServiceError(.unavailable, code: "unavailable", "the fleet's state could not be recorded; nothing changed")
        }
        context.logger.notice("model activated", metadata: ["run_id": "\(model.runId)", "reference": "\(reference)", "fleet_version": "\(state.version)"])
        await audit.record(model, reason: "POST /models/activate \(reference)")
        var description = ActiveModelDescription(model, threshold: threshold)
        description.fleet = FleetView(fleet)
        return description
    }

    struct PerformanceAnswer: ResponseEncodable {
        let run_id: String
        let tenant: String
        let threshold: Double
        /// Feedback rows scored (the newest `FeedbackService.performanceWindow`).
        let feedback_rows: Int
        /// Rows left out because they lack a feature the active model needs.
        let unusable_rows: Int
        let metrics: ClassificationMetrics
    }

    @Sendable func performance(request: Request, context: AppRequestContext) async throws -> PerformanceAnswer {
        let scored = try await feedback.performance(tenant: context.tenant)
        return PerformanceAnswer(
            run_id: scored.runId, tenant: context.tenant, threshold: threshold, feedback_rows: scored.feedbackRows,
            unusable_rows: scored.unusableRows, metrics: scored.metrics)
    }
}
