import Artifacts
import Foundation
import Hummingbird
import Storage

/// Model management, mounted on `/models`: `GET /models`, `GET /models/active`,
/// `POST /models/activate`, `GET /models/active/performance`.
struct ModelsController {
    let models: ModelService
    let feedback: FeedbackService
    let threshold: Double
    let audit: ActivationAudit
    let activation: ModelActivation
    let fleet: FleetCoordinator
    let challenger: ChallengerService

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.group().add(middleware: access.requires(.modelsAdmin))
            .get(use: list)
            .get("active", use: active)
            .get("active/performance", use: performance)
            .get("history", use: history)
        // Activation changes every tenant's predictions: not for a credential of one tenant.
        group.group().add(middleware: access.requiresFleetWide(.modelsAdmin))
            .post("activate", use: activate)
    }

    struct HistoryAnswer: ResponseEncodable {
        let activations: [ActivationAudit.Activation]
    }

    /// The swap history: every activation recorded in the audit log, newest first.
    @Sendable func history(request: Request, context: AppRequestContext) async throws -> HistoryAnswer {
        HistoryAnswer(activations: try await audit.history(limit: 50))
    }

    /// Experiments, runs and registered models from whichever source serves, a page at a time
    /// (`max_results`, default 100, at most 1000; `page_token` from the previous answer).
    @Sendable func list(request: Request, context: AppRequestContext) async throws -> RunList {
        let query = request.uri.queryParameters
        var maxResults = 100
        if let text = query["max_results"] {
            guard let value = Int(text), (1...PageRequest.largest).contains(value) else {
                throw APIError.validation("max_results must be an integer from 1 to \(PageRequest.largest)")
            }
            maxResults = value
        }
        let token = try query["page_token"].map { try ListToken(decoding: String($0)) } ?? ListToken(runs: nil, models: nil, runsDone: false, modelsDone: false)
        let source = models.source
        let activeRunId = models.active?.runId
        let runs = token.runsDone ? Page<Run>(items: [], nextToken: nil) : try await source.runs(page: PageRequest(maxResults: maxResults, token: token.runs))
        let registered = token.modelsDone
            ? Page<RegisteredModel>(items: [], nextToken: nil)
            : try await source.registeredModels(page: PageRequest(maxResults: maxResults, token: token.models))
        var summaries: [RunSummary] = []
        for run in runs.items {
            summaries.append(RunSummary(run: run, servability: await source.servability(of: run), activeRunId: activeRunId))
        }
        let next = ListToken(runs: runs.nextToken, models: registered.nextToken, runsDone: runs.nextToken == nil, modelsDone: registered.nextToken == nil)
        return RunList(
            source: source.description,
            experiments: try await source.experiments().map(ExperimentSummary.init),
            runs: summaries,
            registered_models: registered.items.map(RegisteredModelSummary.init),
            next_page_token: next.runsDone && next.modelsDone ? nil : next.encoded)
    }

    @Sendable func active(request: Request, context: AppRequestContext) async throws -> ActiveModelDescription {
        guard let model = models.active else { throw ServiceError.noModel }
        var description = ActiveModelDescription(model, threshold: threshold, refused: models.refused)
        description.fleet = FleetView(fleet)
        description.from_cache = models.servedFromCache.map(ActiveModelDescription.FromCache.init)
        description.challenger = challenger.described.map {
            ActiveModelDescription.ChallengerBrief(
                version: $0.experiment.version, mode: $0.experiment.mode, status: $0.experiment.status.rawValue, run_id: $0.experiment.runId)
        }
        return description
    }

    @Sendable func activate(request: Request, context: AppRequestContext) async throws -> ActiveModelDescription {
        let expected = "the body must be {\"run_id\": \"...\"} or {\"model_uri\": \"models:/<name>@<alias>\"}"
        let parsed = try await request.decodeJSON(as: ActivateRequest.self, upTo: 64 * 1024, expected: expected)
        let reference = try ActivateRequest.reference(runId: parsed.run_id, modelURI: parsed.model_uri)
        let model: HazardModel
        do {
            // A download the caller no longer waits for stops (a closed connection); once
            // loaded, the activation completes whether or not anyone reads the answer.
            let models = activation.models
            let loaded = try await context.untilCallerGoes { try await models.load(reference) }
            try await activation.install(loaded, reference: reference, reason: "POST /models/activate \(reference)")
            model = loaded
        } catch let error as CallerGone {
            context.logger.notice("activation abandoned: the caller went while the model loaded", metadata: ["reference": "\(reference)"])
            throw error
        } catch let error as ModelActivation.NotRecorded {
            context.logger.error("activation not recorded for the fleet", metadata: ["reference": "\(reference)", "error": "\(error.underlying)"])
            throw ServiceError(.unavailable, code: "unavailable", "the fleet's state could not be recorded; nothing changed")
        } catch {
            context.logger.warning("activation refused", metadata: ["reference": "\(reference)", "reason": "\(error)"])
            throw error
        }
        var description = ActiveModelDescription(model, threshold: threshold, refused: models.refused)
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
