import Artifacts
import Hummingbird

/// `POST /predict`: batches of battery readings in, per-reading hazard labels out.
struct PredictController {
    let predictions: PredictionService
    /// Hazard episodes of battery modules (`HAZARD_EPISODES`); nil when off.
    var hazards: HazardEpisodes?
    let maxBodyBytes: Int

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.requires(.predict))
            .post("predict", use: predict)
    }

    @Sendable func predict(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.jsonBody(upTo: maxBodyBytes)
        guard let hazards else {
            return try await predictions.predict(body: body) { outcome, readings in Self.response(outcome, readings: readings) }
        }
        let tenant = context.tenant
        return try await predictions.predict(body: body) { outcome, readings in
            // Queued, never waited for: episodes are bookkeeping, recorded off the request path.
            hazards.observe(
                tenant: tenant, moduleIds: readings.moduleIds, timestamps: readings.timestamps, probabilities: outcome.probabilities,
                threshold: outcome.threshold)
            return Self.response(outcome, readings: readings)
        }
    }

    // MARK: - The answer

    static func response(_ outcome: PredictionService.Outcome, readings: ReadingsDecoder.Readings) -> Response {
        let model = outcome.model
        // About 115 bytes a reading, and its module id and timestamp: one growth at most.
        let canary = outcome.canary
        let perReading = 120 + (readings.moduleIds == nil ? 0 : 40) + (readings.timestamps == nil ? 0 : 40) + (canary == nil ? 0 : 48)
        var json = JSONWriter(capacity: 256 + readings.count * perReading)
        json.raw("{\"model\":")
        ModelInfo.writeSummary(model, into: &json)
        json.raw(",\"predictions\":[")
        var hazardous = 0
        var maxProbability: Float = 0
        for (index, probability) in outcome.probabilities.enumerated() {
            let label = Double(probability) >= outcome.threshold ? 1 : 0
            hazardous += label
            maxProbability = max(maxProbability, probability)
            let module = readings.moduleIds?[index]
            let timestamp = readings.timestamps?[index]
            let explanation = outcome.explanations?[index]
            // One reservation per reading (the bound from the pieces' own bounds).
            // In canary mode, each reading names the run that scored it.
            let runId = canary == nil ? nil : outcome.runId(at: index)
            let bound = 124 + JSONWriter.Reserved.intBound + JSONWriter.Reserved.floatBound
                + JSONWriter.Reserved.stringBound(module?.utf8Count ?? 0) + JSONWriter.Reserved.stringBound(timestamp?.utf8.count ?? 0)
                + JSONWriter.Reserved.stringBound(runId?.utf8.count ?? 0)
            json.reserving(bound) { out in
                out.raw(index > 0 ? ",{\"index\":" : "{\"index\":")
                out.int(index)
                if let module {
                    out.raw(",\"module_id\":")
                    out.string(module)
                }
                if let timestamp {
                    out.raw(",\"timestamp\":")
                    out.string(timestamp)
                }
                if let runId {
                    out.raw(",\"run_id\":")
                    out.string(runId)
                }
                out.raw(label == 1 ? ",\"prediction\":1,\"label\":\"Hazardous\",\"hazard_probability\":" : ",\"prediction\":0,\"label\":\"Normal\",\"hazard_probability\":")
                out.float(probability)
                if explanation == nil { out.raw("}") }
            }
            if let explanation {
                Self.write(explanation, into: &json)
                json.raw("}")
            }
        }
        json.raw("],\"summary\":{\"count\":")
        json.int(outcome.probabilities.count)
        json.raw(",\"hazardous\":")
        json.int(hazardous)
        json.raw(",\"normal\":")
        json.int(outcome.probabilities.count - hazardous)
        json.raw(",\"max_hazard_probability\":")
        json.float(maxProbability)
        json.raw(",\"threshold\":")
        json.double(outcome.threshold)
        if let canary {
            // Readings per run: the champion's first.
            let challengerReadings = canary.challengerReadings
            json.raw(",\"runs\":{")
            json.string(model.runId)
            json.raw(":")
            json.int(outcome.probabilities.count - challengerReadings)
            json.raw(",")
            json.string(canary.challenger.runId)
            json.raw(":")
            json.int(challengerReadings)
            json.raw("}")
        }
        json.raw("}}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json.buffer))
    }

    /// `,"explanation":{"margin","bias","contributions":[{"feature","value"}]}`, largest first.
    static func write(_ explanation: Explanation, into json: inout JSONWriter) {
        json.raw(",\"explanation\":{\"margin\":")
        json.double(explanation.margin)
        json.raw(",\"bias\":")
        json.double(explanation.bias)
        json.raw(",\"contributions\":[")
        for (k, contribution) in explanation.contributions.enumerated() {
            json.raw(k == 0 ? "{\"feature\":" : ",{\"feature\":")
            json.string(contribution.feature)
            json.raw(",\"value\":")
            json.double(contribution.value)
            json.raw("}")
        }
        json.raw("]}")
    }
}
