import Logging

/// Which code computes a served model's probabilities.
public enum PredictorKind: String, Sendable, Equatable {
    /// `CompiledForest`, after it equalled the C API bit for bit on the probe rows.
    case compiled
    /// libxgboost's C API (`XGBoosterPredictFromDense`).
    case cAPI = "c-api"
}

/// What the operator asks for (`PREDICTOR=auto|compiled|c-api`).
public enum PredictorChoice: String, Sendable, CaseIterable {
    /// The compiled forest when it builds and verifies, else the C API (with the reason).
    case auto
    /// The compiled forest or no model: a load that cannot verify it fails.
    case compiled
    /// The C API, without building a forest.
    case cAPI = "c-api"
}

extension HazardModel {
    struct Predictor: Sendable {
        var kind: PredictorKind
        var reason: String
        var forest: CompiledForest?
        var shap: TreeSHAP?
    }

    /// Builds the compiled forest from the C API's own JSON dump and keeps it only if it equals
    /// the C API on every probe row (margins and probabilities, bit for bit).
    /// - Parameter editDump: changes the dump before the forest is built; tests use it to force
    ///   a difference. Probes are made from the unedited dump.
    /// - Throws: `ArtifactError(.unsupported)` when `choice` is `.compiled` and the forest cannot serve.
    static func choosePredictor(
        _ choice: PredictorChoice, booster: Booster, logger: Logger, editDump: ((inout ForestDump) -> Void)? = nil
    ) throws -> Predictor {
        if choice == .cAPI {
            return Predictor(kind: .cAPI, reason: "PREDICTOR=c-api asks for the C API")
        }
        let reason: String
        do {
            let dump = try ForestDump(json: booster.modelJSON())
            var built = dump
            editDump?(&built)
            let forest = CompiledForest(dump: built)
            let probes = ForestProbes(dump: dump)
            let verification = try ForestVerification(forest: forest, booster: booster, probes: probes.values)
            if verification.passed {
                return Predictor(
                    kind: .compiled,
                    reason: "compiled forest (\(forest.layoutDescription)) equals the C API bit for bit on \(verification.rows) probe rows",
                    forest: forest, shap: TreeSHAP(dump: dump))
            }
            reason = "compiled forest differs from the C API on \(verification.mismatchCount) of \(verification.rows) probe rows, "
                + "first: \(verification.mismatches.joined(separator: "; "))"
        } catch {
            reason = "no compiled forest: \(error)"
        }
        logger.warning("serving through the C API", metadata: ["reason": "\(reason)", "predictor": "\(choice.rawValue)"])
        if choice == .compiled {
            throw ArtifactError(.unsupported, "PREDICTOR=compiled, but \(reason)")
        }
        return Predictor(kind: .cAPI, reason: reason)
    }
}
