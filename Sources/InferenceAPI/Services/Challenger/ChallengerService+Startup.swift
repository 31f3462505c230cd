import Artifacts
import Foundation
import ModelSources
import Storage

extension ChallengerService {
    /// Start-up, once the store is migrated and the fleet followed: joins the fleet's running
    /// experiment, else starts the configured one (`CHALLENGER_MODEL_URI`). A challenger that does
    /// not load is logged and left out: the champion serves either way.
    func begin(configured: Configuration.ChallengerStart?) async {
        await sync(trigger: "start-up")
        guard running == nil, let configured else { return }
        do {
            let model = try await models.load(configured.reference)
            guard let champion = models.active, champion.runId != model.runId, champion.featureNames == model.featureNames else {
                logger.error(
                    "challenger: CHALLENGER_MODEL_URI names the champion or a run reading other features; no experiment",
                    metadata: ["reference": "\(configured.reference)"])
                return
            }
            _ = try await start(
                model: model, reference: configured.reference, mode: Mode(rawValue: configured.mode) ?? .shadow, percent: configured.percent,
                sticky: "module_id")
        } catch {
            logger.error(
                "challenger: CHALLENGER_MODEL_URI could not be started; the champion serves alone",
                metadata: ["reference": "\(configured.reference)", "error": "\(error)"])
        }
    }

    /// A challenger started from a registry alias (`models:/<name>@challenger`) follows it: when
    /// the alias moves to another version, the experiment restarts on it (same mode and share).
    func followAlias() async {
        guard settings.aliasRefreshSeconds > 0, let running,
            case .alias(let name, let alias) = try? ModelReference(parsing: running.experiment.reference)
        else { return }
        let now = ContinuousClock.now
        let due = aliasLookedAt.withLock { last -> Bool in
            if let last, now - last < .seconds(settings.aliasRefreshSeconds) { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            let version = try await models.source.aliasVersion(model: name, alias: alias)
            guard running.model.location.registry?.version != version else { return }
            let model = try await models.load(running.experiment.reference)
            guard self.running?.experiment.version == running.experiment.version, model.runId != running.model.runId else { return }
            logger.notice(
                "challenger: the alias moved; the experiment restarts on the new version",
                metadata: ["reference": "\(running.experiment.reference)", "version": "\(version)", "run_id": "\(model.runId)"])
            _ = try await start(
                model: model, reference: running.experiment.reference, mode: running.mode, percent: running.percent, sticky: running.experiment.sticky)
        } catch {
            logger.warning("challenger: alias check failed; the experiment goes on", metadata: ["reference": "\(running.experiment.reference)", "error": "\(error)"])
        }
    }
}
