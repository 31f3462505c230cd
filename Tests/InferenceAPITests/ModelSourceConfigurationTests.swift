import InferenceAPI
import ModelSources
import Testing

/// `MLFLOW_TRACKING_URI` and its companions: a bad value stops start-up naming the variable.
@Suite("Model source configuration")
struct ModelSourceConfigurationTests {
    static func failure(_ environment: [String: String]) -> String? {
        do {
            _ = try Configuration(environment: environment)
            return nil
        } catch let error as ConfigurationError {
            return error.variable
        } catch {
            return "\(error)"
        }
    }

    @Test func testEachSourceKindIsRead() throws {
        let server = try Configuration(environment: [
            "MLFLOW_TRACKING_URI": "https://mlflow.example.com", "MLFLOW_TRACKING_TOKEN": "t0k3n",
            "MODEL_CACHE_DIR": "/var/cache/models", "MODEL_REFRESH_SECONDS": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MODEL_MAX_ARTIFACT_BYTES": "1048576", "MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS": "true",
        ])
        #expect(try server.modelSource.kind == .trackingServer("https://mlflow.example.com"))
        #expect(server.modelSource.token == "t0k3n" && server.modelSource.cacheDirectory == "/var/cache/models")
        #expect(server.modelRefreshSeconds == 5 && server.modelSource.attempts == 1 && !server.modelSource.insecureTLS)
        #expect(server.modelSource.maxArtifactBytes == 1 << 20 && server.modelSource.redirectsToOtherHosts)
        let database = try Configuration(environment: ["MLFLOW_TRACKING_URI": "sqlite:///mlflow.db", "MLFLOW_ARTIFACT_ROOT": "/srv/a"])
        #expect(try database.modelSource.kind == .sqlite("mlflow.db") && database.modelSource.artifactRoot == "/srv/a")
        let defaults = try Configuration(environment: [:])
        #expect(defaults.modelRefreshSeconds == 30 && defaults.modelSource.trackingURI == nil && defaults.modelSource.attempts == 3)
        #expect(defaults.modelSource.maxArtifactBytes == 4 << 30 && !defaults.modelSource.redirectsToOtherHosts)
    }

    @Test(arguments: [
        (["MLFLOW_TRACKING_URI": "s3://bucket/mlruns"], "MLFLOW_TRACKING_URI"),
        (["MLFLOW_TRACKING_URI": "sqlite://relative.db"], "MLFLOW_TRACKING_URI"),
        (["MLFLOW_TRACKING_USERNAME": "ml"], "MLFLOW_TRACKING_PASSWORD"),
        (["MLFLOW_TRACKING_INSECURE_TLS": "perhaps"], "MLFLOW_TRACKING_INSECURE_TLS"),
        (["MODEL_REFRESH_SECONDS": "-1"], "MODEL_REFRESH_SECONDS"),
        (["MLFLOW_HTTP_REQUEST_TIMEOUT": "0"], "MLFLOW_HTTP_REQUEST_TIMEOUT"),
        (["MODEL_MAX_ARTIFACT_BYTES": "0"], "MODEL_MAX_ARTIFACT_BYTES"),
        (["MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS": "sometimes"], "MLFLOW_ALLOW_REDIRECTS_TO_OTHER_HOSTS"),
    ])
    func testABadValueNamesItsVariable(environment: [String: String], variable: String) {
        #expect(Self.failure(environment) == variable)
    }
}
