import Artifacts
import Foundation
import Hummingbird
import NIOPosix

/// Model management: `GET /models`, `GET /models/active`, `POST /models/activate`.
struct ModelsController {
    let models: ModelService
    let threshold: Double
    let audit: ActivationAudit

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/models", use: list)
        router.get("/models/active", use: active)
        router.post("/models/activate", use: activate)
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> RunList {
        let store = models.store
        let activeRunId = models.active?.runId
        return try await NIOThreadPool.singleton.runIfActive {
            RunList(
                runs: try store.runs().map { RunSummary(run: $0, store: store, activeRunId: activeRunId) },
                registered_models: try store.registeredModels().map(RegisteredModelSummary.init))
        }
    }

    @Sendable func active(request: Request, context: AppRequestContext) async throws -> ActiveModelDescription {
        guard let model = models.active else { throw APIError.unavailable("no model is loaded") }
        return ActiveModelDescription(model, threshold: threshold)
    }

    @Sendable func activate(request: Request, context: AppRequestContext) async throws -> ActiveModelDescription {
        try PredictController.requireJSON(request)
        let body = try await PredictController.collect(request, upTo: 64 * 1024)
        let parsed: ActivateRequest
        do {
            parsed = try JSONDecoder().decode(ActivateRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError.validation("the body must be {\"run_id\": \"...\"} or {\"model_uri\": \"models:/<name>@<alias>\"}")
        }
        let reference: String
        switch (parsed.run_id, parsed.model_uri) {
        case (let id?, nil): reference = id
        case (nil, let uri?): reference = uri
        default:
            throw APIError.validation("give exactly one of run_id and model_uri")
        }
        let models = self.models
        do {
            let model = try await NIOThreadPool.singleton.runIfActive { try models.activate(reference) }
            context.logger.notice("model activated", metadata: ["run_id": "\(model.runId)", "reference": "\(reference)"])
            await audit.record(model, reason: "POST /models/activate \(reference)")
            return ActiveModelDescription(model, threshold: threshold)
        } catch let error as ArtifactError {
            context.logger.warning("activation refused", metadata: ["reference": "\(reference)", "reason": "\(error)"])
            throw Self.apiError(error)
        }
    }

    /// Load failures are the client's choice of run: 400 malformed reference, 404 missing,
    /// 422 present but not servable. The old model keeps serving in every case.
    static func apiError(_ error: ArtifactError) -> APIError {
        let message = "\(error.message); the previous model keeps serving"
        switch error.kind {
        case .invalidReference: return APIError(.badRequest, code: "invalid_reference", message: message)
        case .notFound: return APIError(.notFound, code: "model_not_found", message: message)
        case .forbiddenClass, .malformed, .unsupported, .mismatch, .xgboost:
            return APIError(.unprocessableContent, code: "model_not_servable", message: message)
        }
    }
}
