import Artifacts
import Foundation
import Logging

/// Opens the model source `MLFLOW_TRACKING_URI` names, as MLflow itself reads that variable:
///
/// - unset, a path or `file:` URI: a file store (`MLRUNS_DIR`, default `./mlruns`);
/// - `sqlite:///relative/mlflow.db`, `sqlite:////absolute/mlflow.db`, `postgresql://...`
///   (`postgresql+psycopg2://` too): the backend database, artifacts under `MLFLOW_ARTIFACT_ROOT`
///   (default: `mlartifacts/` beside the SQLite file, `./mlartifacts` for PostgreSQL);
/// - `http://` / `https://`: a tracking server, downloads cached under `MODEL_CACHE_DIR`.
public enum ModelSources {
    public struct Settings: Sendable {
        public var trackingURI: String?
        /// `MLRUNS_DIR`: the file store when no tracking URI says otherwise.
        public var mlrunsDirectory: String = "./mlruns"
        public var artifactRoot: String?
        public var cacheDirectory: String = "./data/model-cache"
        /// MLflow's own variables (`MLFLOW_TRACKING_TOKEN`, ...), from the environment.
        public var token: String?
        public var username: String?
        public var password: String?
        public var insecureTLS = false
        public var serverCertificate: String?
        /// `MLFLOW_HTTP_REQUEST_TIMEOUT`: one request to the source, its retries included (a
        /// query, for a backend database).
        public var requestTimeoutSeconds: Int = 30
        var requestTimeout: Duration { .seconds(requestTimeoutSeconds) }
        public var attempts: Int = 3
        /// `MODEL_MAX_ARTIFACT_BYTES`: one run's or model's artifacts downloaded from a tracking
        /// server, at most (what a listing says is checked against it before the download, and a
        /// server sending more than it listed is stopped at once).
        public var maxArtifactBytes: Int = Self.defaultMaxArtifactBytes
        /// `MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS`: a tracking server's redirect to another host is
        /// followed (without credentials) only when set; same-origin redirects always are.
        public var redirectsToOtherHosts = false
        public static let defaultMaxArtifactBytes = 4 << 30

        public init() {}

        /// The kind of source, checked without opening anything (configuration errors name the variable).
        public var kind: Kind {
            get throws {
                guard let uri = trackingURI, !uri.isEmpty else { return .fileStore(mlrunsDirectory) }
                let scheme = uri.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
                switch scheme {
                case "http", "https":
                    guard let url = URL(string: uri), url.host != nil else {
                        throw ModelSourceError.configuration("MLFLOW_TRACKING_URI '\(uri)' is not a valid http(s) URL")
                    }
                    return .trackingServer(uri)
                case "sqlite":
                    // sqlite:///relative.db (three slashes) or sqlite:////absolute.db (four), as SQLAlchemy.
                    guard uri.hasPrefix("sqlite:///"), uri.count > "sqlite:///".count else {
                        throw ModelSourceError.configuration("MLFLOW_TRACKING_URI must be sqlite:///path/to/mlflow.db")
                    }
                    return .sqlite(String(uri.dropFirst("sqlite:///".count)))
                case "postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg":
                    guard let plus = uri.range(of: "://"),
                        let url = URL(string: "postgresql" + uri[plus.lowerBound...]), url.host != nil
                    else { throw ModelSourceError.configuration("MLFLOW_TRACKING_URI is not a postgresql://user@host:port/db URI") }
                    return .postgres(url)
                case "file":
                    guard let url = URL(string: uri), url.isFileURL else {
                        throw ModelSourceError.configuration("MLFLOW_TRACKING_URI '\(uri)' is not a file: URI")
                    }
                    return .fileStore(url.path)
                default:
                    if uri.contains("://") {
                        throw ModelSourceError.configuration(
                            "MLFLOW_TRACKING_URI scheme '\(scheme)' is not supported (a path, file:, sqlite:, postgresql:, http(s):)")
                    }
                    return .fileStore(uri)
                }
            }
        }
    }

    public enum Kind: Sendable, Equatable {
        case fileStore(String)
        case sqlite(String)
        case postgres(URL)
        case trackingServer(String)
    }

    /// Opens the source. A database or artifact root that does not exist is an error here; a
    /// tracking server that does not answer is not (the first request will say so, and a cached
    /// model can still be served).
    public static func open(_ settings: Settings, logger: Logger) async throws -> any ModelSource {
        switch try settings.kind {
        case .fileStore(let path):
            return FileStoreSource(store: try MLflowStore(root: URL(fileURLWithPath: path)))
        case .sqlite(let path):
            let root = settings.artifactRoot ?? ((path as NSString).deletingLastPathComponent.isEmpty
                ? "mlartifacts" : "\((path as NSString).deletingLastPathComponent)/mlartifacts")
            let reader = try await SQLiteReader.open(path: path, logger: logger)
            return try await BackendStoreSource.open(reader: reader, artifactRoot: root, timeout: settings.requestTimeout)
        case .postgres(let url):
            let reader = try PostgresReader.open(url: url, logger: logger)
            do {
                return try await BackendStoreSource.open(
                    reader: reader, artifactRoot: settings.artifactRoot ?? "./mlartifacts", timeout: settings.requestTimeout)
            } catch {
                await reader.close()
                throw error
            }
        case .trackingServer(let uri):
            var client = TrackingServerClient.Settings(baseURL: uri)
            client.token = settings.token
            client.username = settings.username
            client.password = settings.password
            client.insecureTLS = settings.insecureTLS
            client.caFile = settings.serverCertificate
            client.requestTimeout = .seconds(Int64(settings.requestTimeoutSeconds))
            client.connectTimeout = .seconds(Int64(min(5, settings.requestTimeoutSeconds)))
            client.attempts = settings.attempts
            client.redirectsToOtherHosts = settings.redirectsToOtherHosts
            return try TrackingServerSource(
                client: try TrackingServerClient(settings: client), cacheDirectory: settings.cacheDirectory,
                maximumBytes: settings.maxArtifactBytes, logger: logger)
        }
    }
}
