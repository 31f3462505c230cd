import Artifacts
import Logging
import ModelSources
import ServiceLifecycle

/// Follows a registry alias (`MODEL_URI=models:/<name>@<alias>`, every `MODEL_REFRESH_SECONDS`):
/// when the alias points at another version than the one serving, the service loads it, checks
/// it and swaps (`HazardModel`'s load-time checks are the gate). A version that fails is not
/// served: the old model keeps serving, `/models/active` shows the refused target and why, and it
/// is not retried until the alias moves again. A source that cannot be reached changes nothing.
/// Every check is counted in `model_alias_checks_total{result}`.
struct AliasFollower: Service {
    let models: ModelService
    let name: String
    let alias: String
    let interval: Duration
    /// Serves a checked model through the one swap path: recorded for the whole fleet, audited.
    let activation: ModelActivation
    let telemetry: Telemetry?
    let logger: Logger

    enum Outcome: String, Sendable {
        case unchanged, swapped, refused, unreachable
    }

    /// The follower for a configured reference, if it names an alias and refreshing is on.
    static func make(
        models: ModelService, refreshSeconds: Int, activation: ModelActivation, telemetry: Telemetry?, logger: Logger
    ) -> AliasFollower? {
        guard refreshSeconds > 0, let configured = models.configured,
            case .alias(let name, let alias) = try? ModelReference(parsing: configured)
        else { return nil }
        return AliasFollower(
            models: models, name: name, alias: alias, interval: .seconds(refreshSeconds), activation: activation, telemetry: telemetry, logger: logger)
    }

    var reference: String { "models:/\(name)@\(alias)" }

    func run() async throws {
        logger.info("following a registry alias", metadata: ["reference": "\(reference)", "every": "\(interval)"])
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            _ = await check()
        }
    }

    /// One look at the alias; swaps when it moved to a version that loads and passes its checks.
    func check() async -> Outcome {
        let outcome = await look()
        telemetry?.aliasCheck(outcome.rawValue)
        return outcome
    }

    private func look() async -> Outcome {
        let version: Int
        do {
            version = try await models.source.aliasVersion(model: name, alias: alias)
        } catch {
            logger.warning("alias check failed; the current model keeps serving", metadata: ["reference": "\(reference)", "reason": "\(error)"])
            return .unreachable
        }
        if let registry = models.active?.location.registry, registry.name == name, registry.version == version {
            if models.refused != nil { models.setRefusal(nil) }  // the alias came back to what serves
            return .unchanged
        }
        // Refused once: not retried until the alias moves again.
        if let refused = models.refused, refused.reference == reference, refused.version == version { return .unchanged }
        let target = "models:/\(name)/\(version)"
        do {
            // The alias itself, so the served model says which alias brought it.
            let model = try await models.load(reference)
            do {
                try await activation.install(model, reference: models.configured ?? model.runId, reason: "alias \(reference) moved to version \(version)")
            } catch {
                logger.warning(
                    "alias moved but the fleet's state could not be recorded; the current model keeps serving",
                    metadata: ["reference": "\(reference)", "version": "\(version)", "reason": "\(error)"])
                return .unreachable
            }
            models.setRefusal(nil)
            logger.notice(
                "registry alias moved: model swapped",
                metadata: ["reference": "\(reference)", "version": "\(version)", "run_id": "\(model.runId)"])
            return .swapped
        } catch let error as ModelSourceError {
            logger.warning(
                "alias moved but the source cannot be reached; the current model keeps serving",
                metadata: ["reference": "\(reference)", "version": "\(version)", "reason": "\(error)"])
            return .unreachable
        } catch {
            models.setRefusal(.init(reference: reference, target: target, version: version, reason: "\(error)", at: .now))
            logger.error(
                "registry alias moved to a version that fails its checks: not served, the current model keeps serving",
                metadata: ["reference": "\(reference)", "target": "\(target)", "reason": "\(error)"])
            return .refused
        }
    }
}
