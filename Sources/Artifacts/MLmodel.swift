import Foundation
import Yams

/// An `MLmodel` file: the flavors MLflow saved a model with, and its signature.
public struct MLmodel: Sendable {
    /// The xgboost flavor: where the booster file is and how it was written.
    public struct XGBoostFlavor: Sendable {
        /// The booster file, relative to the model directory (`model.xgb`, `model.json`, `model.ubj`).
        public let data: String
        /// `xgb`, `json`, `ubj` or `deprecated`, as MLflow recorded it.
        public let modelFormat: String?
        /// The xgboost version that saved the model.
        public let xgbVersion: String?
        /// `xgboost.sklearn.XGBClassifier`, `xgboost.core.Booster`, ...
        public let modelClass: String?
    }

    /// One column of the signature's inputs.
    public struct Column: Sendable, Equatable {
        public let name: String?
        public let type: String
    }

    public let xgboost: XGBoostFlavor?
    public let flavors: [String]
    public let signatureInputs: [Column]?
    public let mlflowVersion: String?
    public let runId: String?
    /// MLflow 3's logged-model id (`m-...`), when present.
    public let modelId: String?
    public let createdAt: String?

    /// Parses an `MLmodel` file.
    /// - Throws: `ArtifactError(.malformed)` when it is not the YAML MLflow writes.
    public init(contentsOf url: URL) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ArtifactError(.notFound, "cannot read MLmodel", path: url.path)
        }
        guard let root = (try? Yams.load(yaml: text)) as? [String: Any] else {
            throw ArtifactError(.malformed, "MLmodel is not a YAML mapping", path: url.path)
        }
        let flavors = root["flavors"] as? [String: Any] ?? [:]
        self.flavors = flavors.keys.sorted()
        if let x = flavors["xgboost"] as? [String: Any], let data = x["data"] as? String {
            xgboost = XGBoostFlavor(
                data: data,
                modelFormat: x["model_format"].map { "\($0)" },
                xgbVersion: x["xgb_version"].map { "\($0)" },
                modelClass: x["model_class"] as? String)
        } else {
            xgboost = nil
        }
        mlflowVersion = root["mlflow_version"].map { "\($0)" }
        runId = root["run_id"] as? String
        modelId = root["model_id"] as? String
        createdAt = root["utc_time_created"].map { "\($0)" }
        signatureInputs = Self.columns(from: (root["signature"] as? [String: Any])?["inputs"])
    }

    /// Signature inputs are a JSON string inside the YAML (`'[{"type": "double", "name": "x"}]'`).
    private static func columns(from value: Any?) -> [Column]? {
        guard let text = value as? String, let data = text.data(using: .utf8),
            let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return nil }
        return list.map { Column(name: $0["name"] as? String, type: $0["type"] as? String ?? "unknown") }
    }
}
