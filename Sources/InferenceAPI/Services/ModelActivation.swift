import Artifacts
import Logging
import Storage

/// The one path of every swap of the served model (`POST /models/activate`, SIGHUP, a followed
/// alias): load and check, record for the fleet, serve, audit. Each caller only says what to load
/// and why.
struct ModelActivation: Sendable {
    let models: ModelService
    let fleet: FleetCoordinator
    let audit: ActivationAudit?
    let logger: Logger

    /// The fleet's state could not be recorded: nothing changed anywhere.
    struct NotRecorded: Error, CustomStringConvertible {
        let underlying: any Error
        var description: String { "the fleet's state could not be recorded: \(underlying)" }
    }

    /// Loads and checks `reference` (its errors are thrown as they are: nothing changed), then
    /// installs it (`install`).
    @discardableResult
    func activate(_ reference: String, reason: String) async throws -> (model: HazardModel, state: FleetState) {
        let model = try await models.load(reference)
        return (model, try await install(model, reference: reference, reason: reason))
    }

    /// Records `model` for the fleet (every replica swaps to its run) and serves it here, then
    /// writes the audit row. Throws `NotRecorded` when the fleet's state could not be written.
    @discardableResult
    func install(_ model: HazardModel, reference: String, reason: String) async throws -> FleetState {
        let state: FleetState
        do {
            state = try await fleet.publish(model, reference: reference, reason: reason)
        } catch {
            throw NotRecorded(underlying: error)
        }
        logger.notice(
            "model activated", metadata: ["run_id": "\(model.runId)", "reference": "\(reference)", "reason": "\(reason)", "fleet_version": "\(state.version)"])
        await audit?.record(model, reason: reason)
        return state
    }
}
