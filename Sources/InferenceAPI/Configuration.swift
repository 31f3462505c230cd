import Foundation
import Logging

/// Everything the server reads from its environment, parsed and checked once at start-up.
///
/// A bad value stops start-up with one `ConfigurationError` line naming the variable.
public struct Configuration: Sendable {
    public enum MissingValuePolicy: String, Sendable, CaseIterable {
        case reject, nan, zero

        var decoderPolicy: ReadingsDecoder.MissingValues {
            switch self {
            case .reject: .reject
            case .nan: .nan
            case .zero: .zero
            }
        }
    }

    public var mlrunsDirectory: String = "./mlruns"
    /// `BEST_MLFLOW_RUN_ID` or `MODEL_URI`; nil means "pick the default" (champion alias, best run).
    public var modelReference: String?
    public var modelSelectMetric: String = "roc_auc"
    /// `DATABASE_URL`; nil means the embedded SQLite file `sqlitePath`.
    public var databaseURL: String?
    public var sqlitePath: String = "./data/inference.sqlite"
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var maxReadingsPerRequest: Int = 10_000
    public var maxSamplesPerRequest: Int = 10_000
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    public var hazardThreshold: Double = 0.5
    public var anomalyThreshold: Double = 0.6
    public var minTrainingSamples: Int = 100
    public var missingValues: MissingValuePolicy = .reject
    public var logLevel: Logger.Level = .info
    /// `json` (one object per line, the default) or `text`.
    public var logFormat: String = "json"
    public var jwtSecret: String?
    public var authUsername: String?
    public var authPassword: String?
    public var apiKeys: String?
    public var rateLimitPerMinute: Int = 6000
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?

    public init() {}

    /// Reads the process environment (or `environment`, for tests).
    /// - Throws: `ConfigurationError` for the first variable with a bad value.
    public init(environment: [String: String]) throws {
        let env = Reader(environment: environment)
        if let v = env.string("MLRUNS_DIR") { mlrunsDirectory = v }
        let runId = env.string("BEST_MLFLOW_RUN_ID")
        let uri = env.string("MODEL_URI")
        if runId != nil, uri != nil, runId != uri {
            throw ConfigurationError(variable: "MODEL_URI", message: "set either MODEL_URI or BEST_MLFLOW_RUN_ID, not both")
        }
        modelReference = uri ?? runId
        if let v = env.string("MODEL_SELECT_METRIC") { modelSelectMetric = v }
        databaseURL = env.string("DATABASE_URL")
        if let url = databaseURL, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            throw ConfigurationError(variable: "DATABASE_URL", message: "must be a postgres:// URL (unset it to use the embedded SQLite file)")
        }
        if let v = env.string("SQLITE_PATH") { sqlitePath = v }
        if let v = env.string("HOST") { host = v }
        port = try env.int("PORT", default: port, range: 0...65535)
        maxReadingsPerRequest = try env.int("MAX_READINGS_PER_REQUEST", default: maxReadingsPerRequest, range: 1...1_000_000)
        maxSamplesPerRequest = try env.int("MAX_SAMPLES_PER_REQUEST", default: maxSamplesPerRequest, range: 1...1_000_000)
        maxBodyBytes = try env.int("MAX_BODY_BYTES", default: maxBodyBytes, range: 1024...1_073_741_824)
        hazardThreshold = try env.double("HAZARD_THRESHOLD", default: hazardThreshold, range: 0...1)
        anomalyThreshold = try env.double("ANOMALY_THRESHOLD", default: anomalyThreshold, range: 0...1)
        minTrainingSamples = try env.int("MIN_TRAINING_SAMPLES", default: minTrainingSamples, range: 2...10_000_000)
        rateLimitPerMinute = try env.int("RATE_LIMIT_PER_MINUTE", default: rateLimitPerMinute, range: 1...100_000_000)
        if let v = env.string("MISSING_VALUES") {
            guard let policy = MissingValuePolicy(rawValue: v.lowercased()) else {
                throw ConfigurationError(variable: "MISSING_VALUES", message: "must be one of reject, nan, zero (got '\(v)')")
            }
            missingValues = policy
        }
        if let v = env.string("LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw ConfigurationError(
                    variable: "LOG_LEVEL", message: "must be one of trace, debug, info, notice, warning, error, critical (got '\(v)')")
            }
            logLevel = level
        }
        if let v = env.string("LOG_FORMAT") {
            guard ["json", "text"].contains(v.lowercased()) else {
                throw ConfigurationError(variable: "LOG_FORMAT", message: "must be json or text (got '\(v)')")
            }
            logFormat = v.lowercased()
        }
        jwtSecret = env.string("JWT_SECRET")
        authUsername = env.string("AUTH_USERNAME")
        authPassword = env.string("AUTH_PASSWORD")
        apiKeys = env.string("API_KEYS")
        tlsCertificateFile = env.string("TLS_CERT_FILE")
        tlsKeyFile = env.string("TLS_KEY_FILE")
        if (tlsCertificateFile == nil) != (tlsKeyFile == nil) {
            throw ConfigurationError(
                variable: tlsCertificateFile == nil ? "TLS_CERT_FILE" : "TLS_KEY_FILE",
                message: "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
        }
    }

    /// Reads variables; empty strings count as unset.
    private struct Reader {
        let environment: [String: String]

        func string(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }

        func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = string(name) else { return value }
            guard let v = Int(text), range.contains(v) else {
                throw ConfigurationError(variable: name, message: "must be a whole number in \(range.lowerBound)...\(range.upperBound) (got '\(text)')")
            }
            return v
        }

        func double(_ name: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
            guard let text = string(name) else { return value }
            guard let v = Double(text), v.isFinite, range.contains(v) else {
                throw ConfigurationError(variable: name, message: "must be a number in \(range.lowerBound)...\(range.upperBound) (got '\(text)')")
            }
            return v
        }
    }
}

/// A configuration variable with a bad value; `description` is the one line start-up prints.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let message: String
    public var description: String { "configuration error: \(variable) \(message)" }
}
