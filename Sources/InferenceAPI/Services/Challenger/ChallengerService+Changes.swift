import Artifacts
import Foundation
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// Starting, ending and following the fleet's experiment: one change at a time (`changes`).
extension ChallengerService {
    // MARK: - Changes

    /// Starts an experiment on `model` (loaded and checked) for the whole fleet.
    func start(model: HazardModel, reference: String, mode: Mode, percent: Int, sticky: String) async throws -> FleetExperiment {
        try await changes.withLock {
            let experiment = try await store.startExperiment(
                ExperimentStart(reference: reference, runId: model.runId, mode: mode.rawValue, percent: percent, sticky: sticky), by: replicaId)
            install(experiment, model: model)
            logger.notice(
                "challenger: experiment started",
                metadata: [
                    "version": "\(experiment.version)", "run_id": "\(model.runId)", "reference": "\(reference)", "mode": "\(mode.rawValue)",
                    "percent": "\(percent)",
                ])
            let share = mode == .canary ? "canary \(percent) %" : "shadow"
            await audit?.recordExperiment(model, event: "started", reason: "\(share) of \(reference), experiment \(experiment.version)")
            return experiment
        }
    }

    /// Ends experiment `version` for the fleet (`DELETE`, a promotion, the guard).
    @discardableResult
    func stop(version: Int64, status: FleetExperiment.Status, reason: String) async -> Bool {
        (try? await changes.withLock {
            let ended: FleetExperiment?
            do {
                ended = try await store.endExperiment(version: version, status: status, reason: reason)
            } catch {
                logger.error("challenger: the experiment's end could not be recorded", metadata: ["error": "\(error)"])
                return false
            }
            // Traffic stops at once; the status shows the end once the audit entry is written, so
            // whoever reads "stopped" finds it in the audit log too.
            let mine = state.withLock { state -> HazardModel? in
                guard let running = state.running, running.experiment.version == version else { return nil }
                state.running = nil
                state.queue = []
                state.queuedReadings = 0
                engaged.store(false, ordering: .relaxed)
                return running.model
            }
            defer { state.withLock { state in if state.running == nil { state.record = ended } } }
            // Ended here, now (not by another replica before): log it and write the audit entry.
            guard let ended, ended.version == version, ended.status == status, ended.reason == reason else { return mine != nil }
            if status == .stopped {
                logger.error(
                    "challenger: the guard stopped the experiment; the champion alone serves",
                    metadata: ["version": "\(version)", "reason": "\(reason)"])
            } else {
                logger.notice("challenger: experiment ended", metadata: ["version": "\(version)", "status": "\(status.rawValue)", "reason": "\(reason)"])
            }
            if let mine { await audit?.recordExperiment(mine, event: status.rawValue, reason: reason) }
            return true
        }) ?? false
    }

    /// Reads the fleet's experiment and follows it: loads a new one's challenger, drops an ended one.
    func sync(trigger: String) async {
        do {
            try await changes.withLock {
                guard let experiment = try await store.experiment() else { return }
                let current = state.withLock { $0.running?.experiment.version }
                if experiment.status != .running {
                    state.withLock { state in
                        if state.running?.experiment.version == experiment.version || state.running == nil {
                            if state.running != nil { logger.notice("challenger: the fleet's experiment ended", metadata: ["status": "\(experiment.status.rawValue)"]) }
                            state.running = nil
                            state.queue = []
                            state.queuedReadings = 0
                            engaged.store(false, ordering: .relaxed)
                        }
                        state.record = experiment
                    }
                    return
                }
                guard current != experiment.version else { return }
                let model = try await models.load(experiment.runId)
                install(experiment, model: model)
                logger.notice(
                    "challenger: now running the fleet's experiment",
                    metadata: ["version": "\(experiment.version)", "run_id": "\(experiment.runId)", "trigger": "\(trigger)"])
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("challenger: could not follow the fleet's experiment", metadata: ["trigger": "\(trigger)", "error": "\(error)"])
        }
    }

    /// Must run under `changes`.
    func install(_ experiment: FleetExperiment, model: HazardModel) {
        state.withLock { state in
            state.running = Running(
                experiment: experiment, model: model, mode: Mode(rawValue: experiment.mode) ?? .shadow, percent: experiment.percent)
            state.record = experiment
            state.stats = ChallengerStats()
            state.statsVersion = experiment.version
            state.dirty = true
            state.queue = []
            state.queuedReadings = 0
        }
        engaged.store(true, ordering: .relaxed)
    }

    /// The experiment to describe (`GET /models/challenger`): the running one, else the last one
    /// if the guard stopped it; nil otherwise.
    var described: (experiment: FleetExperiment, model: HazardModel?)? {
        state.withLock { state in
            if let running = state.running { return (running.experiment, running.model) }
            if let record = state.record, record.status == .stopped { return (record, nil) }
            return nil
        }
    }
}
