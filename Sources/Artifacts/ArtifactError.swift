/// Why an MLflow artifact could not be found, read or trusted.
///
/// Every failure while reading what MLflow wrote is one of these: a typed kind to act on,
/// the path (or run id, or URI) involved, and a message a person can read.
public struct ArtifactError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A run, experiment, model, version or alias that does not exist.
        case notFound
        /// An identifier or URI that is malformed or would escape `MLRUNS_DIR`.
        case invalidReference
        /// A file that exists but cannot be parsed (YAML, JSON, pickle, booster).
        case malformed
        /// A pickle that names a class outside the decoder's whitelist.
        case forbiddenClass
        /// Something well formed that this service cannot serve correctly.
        case unsupported
        /// Parts that disagree (feature counts, names).
        case mismatch
        /// An error reported by libxgboost.
        case xgboost
    }

    public let kind: Kind
    public let path: String?
    public let message: String

    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path { return "\(message) (\(path))" }
        return message
    }
}
