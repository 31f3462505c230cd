import Artifacts
import Foundation
import Hummingbird
import Storage

/// Champion and challenger, mounted on `/models/challenger`: `POST` starts (or replaces) an
/// experiment, `GET` describes it with the fleet's counters, `POST /promote` serves the challenger,
/// `DELETE` ends it. Starting, promoting and ending change every tenant's traffic: fleet-wide
/// `models:admin` only.
struct ChallengerController {
    let challenger: ChallengerService
    let models: ModelService
    let activation: ModelActivation
    let fleet: FleetCoordinator
    let threshold: Double

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.group().add(middleware: access.requires(.modelsAdmin))
            .get(use: status)
        group.group().add(middleware: access.requiresFleetWide(.modelsAdmin))
            .post(use: start)
            .delete(use: end)
            .post("promote", use: promote)
    }

    struct StartRequest: Decodable {
        let model_uri: String?
        let run_id: String?
        let mode: String?
        let percent: Int?
        let sticky: String?
    }

    static let expected =
        "the body must be {\"model_uri\": \"models:/<name>@challenger\" (or \"run_id\"), \"mode\": \"shadow\" | \"canary\", \"percent\": 0-100 (canary), \"sticky\": \"module_id\"}"

    @Sendable func start(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: StartRequest.self, upTo: 64 * 1024, expected: Self.expected)
        let reference = try ActivateRequest.reference(runId: body.run_id, modelURI: body.model_uri)
        guard let mode = ChallengerService.Mode(rawValue: body.mode ?? "shadow") else {
            throw APIError.validation("mode is \"shadow\" or \"canary\"", [.init(field: "mode", problem: "is not shadow or canary")])
        }
        var percent = 0
        switch (mode, body.percent) {
        case (.canary, let value?) where (0...100).contains(value): percent = value
        case (.canary, _):
            throw APIError.validation("a canary needs percent, a whole number from 0 to 100", [.init(field: "percent", problem: "is missing or out of 0-100")])
        case (.shadow, nil): break
        case (.shadow, .some):
            throw APIError.validation("percent is for a canary: a shadow scores every reading", [.init(field: "percent", problem: "is set in shadow mode")])
        }
        guard (body.sticky ?? "module_id") == "module_id" else {
            throw APIError.validation("sticky routing is by module_id", [.init(field: "sticky", problem: "is not module_id")])
        }
        // The same checks as an activation: a run that fails them answers as it would there.
        let models = self.models
        let model: HazardModel
        do {
            model = try await context.untilCallerGoes { try await models.load(reference) }
        } catch {
            context.logger.warning("challenger refused", metadata: ["reference": "\(reference)", "reason": "\(error)"])
            throw error
        }
        guard let champion = models.active else { throw ServiceError.noModel }
        guard model.runId != champion.runId else {
            throw APIError(.conflict, code: "challenger_is_champion", message: "run \(model.runId) is the champion serving now; name another run")
        }
        guard model.featureNames == champion.featureNames else {
            throw ServiceError(
                .unprocessable, code: "features_differ",
                "the challenger reads features \(model.featureNames) and the champion \(champion.featureNames): both must read the same features in the same order")
        }
        do {
            _ = try await challenger.start(model: model, reference: reference, mode: mode, percent: percent, sticky: "module_id")
        } catch {
            context.logger.error("challenger not recorded for the fleet", metadata: ["reference": "\(reference)", "error": "\(error)"])
            throw ServiceError(.unavailable, code: "unavailable", "the fleet's experiment could not be recorded; nothing changed")
        }
        return try await describe(status: .created)
    }

    @Sendable func status(request: Request, context: AppRequestContext) async throws -> Response {
        try await describe(status: .ok)
    }

    private func describe(status: HTTPResponse.Status) async throws -> Response {
        let described: ChallengerStatus?
        do {
            described = try await challenger.status(champion: models.active)
        } catch {
            throw ServiceError(.unavailable, code: "unavailable", "the fleet's counters could not be read")
        }
        guard let described else { throw APIError.notFound("no challenger experiment is running") }
        return .json(status, ByteBuffer(bytes: try JSONEncoder.api.encode(described)))
    }

    @Sendable func end(request: Request, context: AppRequestContext) async throws -> Response {
        guard let running = challenger.running else { throw APIError.notFound("no challenger experiment is running") }
        guard await challenger.stop(version: running.experiment.version, status: .ended, reason: "ended by DELETE /models/challenger") else {
            throw ServiceError(.unavailable, code: "unavailable", "the fleet's experiment could not be ended; it still runs")
        }
        return Response(status: .noContent)
    }

    @Sendable func promote(request: Request, context: AppRequestContext) async throws -> Response {
        guard challenger.running != nil else { throw APIError.notFound("no challenger experiment is running") }
        let promoted: (model: HazardModel, version: Int64)
        do {
            promoted = try await challenger.promote(through: activation)
        } catch let error as ModelActivation.NotRecorded {
            context.logger.error("promotion not recorded for the fleet", metadata: ["error": "\(error.underlying)"])
            throw ServiceError(.unavailable, code: "unavailable", "the fleet's state could not be recorded; nothing changed")
        }
        var description = ActiveModelDescription(promoted.model, threshold: threshold, refused: models.refused)
        description.fleet = FleetView(fleet)
        return .json(.ok, ByteBuffer(bytes: try JSONEncoder.api.encode(description)))
    }
}
