import Artifacts
import Foundation
import Logging
import ModelSources
import Storage

/// A dependency the configuration names could not be reached at start-up (within
/// `STARTUP_TIMEOUT_SECONDS`): printed as one line naming the variable, the target (passwords
/// redacted) and the cause in words; the process exits with code 3 (a configuration error, 2).
public struct StartupError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let target: String
    public let cause: String
    /// What failed about the target: `cannot be reached` (a server), `cannot be opened` (a file).
    public let failure: String
    public var description: String { "start-up failed: \(variable) (\(target)) \(failure): \(cause)" }

    public init(variable: String, target: String, cause: String, failure: String = "cannot be reached") {
        self.variable = variable
        self.target = target
        self.cause = cause
        self.failure = failure
    }

    /// `url` with its password, if any, written as `***`.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}

extension StartupError {
    /// One connection to the PostgreSQL database `url`, within `timeout`
    /// (`PostgresStoreDatabase.probe`); its failure as a `StartupError` naming `variable` and
    /// `shown` (the URL as configured) with its password redacted.
    static func probePostgres(url: String, variable: String, shown: String, timeout: Duration, logger: Logger) async throws {
        do {
            try await PostgresStoreDatabase.probe(url: url, timeout: timeout, logger: logger)
        } catch let error as StoreError {
            throw StartupError(variable: variable, target: redacted(shown), cause: error.message)
        }
    }

    /// A model source that could not be opened or reached at start-up: unreachable is this error
    /// (exit 3); anything else about the source is a configuration error (exit 2).
    static func modelSource(_ error: ModelSourceError, configuration: Configuration) -> any Error {
        let variable = "MLFLOW_TRACKING_URI"
        guard case .unreachable = error else {
            // The variable the message is about (named once: a trailing "(NAME)" is dropped).
            let named = ["MLFLOW_ARTIFACT_ROOT", "MODEL_CACHE_DIR"].first { error.description.contains($0) } ?? variable
            return ConfigurationError(variable: named, message: error.description.replacingOccurrences(of: " (\(named))", with: ""))
        }
        let target = configuration.modelSource.trackingURI.map(redacted) ?? configuration.mlrunsDirectory
        return StartupError(variable: variable, target: target, cause: error.cause)
    }

    /// The model the configuration names is not there or cannot be served (a configuration
    /// error, exit 2), named by the variable that chose it.
    static func model(_ error: ArtifactError, configuration: Configuration) -> ConfigurationError {
        let variable: String
        let target: String
        if let reference = configuration.modelReference {
            variable = reference.contains(":") ? "MODEL_URI" : "BEST_MLFLOW_RUN_ID"
            target = reference
        } else if let uri = configuration.modelSource.trackingURI {
            variable = "MLFLOW_TRACKING_URI"
            target = redacted(uri)
        } else {
            variable = "MLRUNS_DIR"
            target = configuration.mlrunsDirectory
        }
        return ConfigurationError(variable: variable, message: "(\(target)): \(error.message)")
    }
}
