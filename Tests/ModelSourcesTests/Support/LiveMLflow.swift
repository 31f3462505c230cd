import Artifacts
import Foundation
import Logging

@testable import ModelSources

/// The real MLflow tracking servers `scripts/with-mlflow.sh` starts for `make test` (loopback,
/// fresh SQLite backends): the open one with the battery-hazard runs, and one with basic auth.
enum LiveMLflow {
    static let environment = ProcessInfo.processInfo.environment
    static var url: String? { environment["TEST_MLFLOW_URL"] }
    static var isRunning: Bool { url != nil && environment["TEST_MLFLOW_VECTORS"] != nil }
    static var hasAuthServer: Bool { environment["TEST_MLFLOW_AUTH_URL"] != nil }

    static func vectors() throws -> [Fixtures.Vector] {
        try Fixtures.vectors(in: URL(fileURLWithPath: environment["TEST_MLFLOW_VECTORS"] ?? "/nonexistent"))
    }

    static func champion() throws -> Fixtures.Vector {
        guard let vector = try vectors().first(where: { $0.role == "champion" }) else { throw Missing() }
        return vector
    }

    struct Missing: Error {}

    /// A tracking-server source with its own cache folder (the caller removes `cache`).
    static func source(url: String? = nil, cache: URL, change: (inout ModelSources.Settings) -> Void = { _ in }) async throws -> any ModelSource {
        var settings = ModelSources.Settings()
        settings.trackingURI = url ?? self.url
        settings.cacheDirectory = cache.path
        // Generous: these suites are about what is served, and a real MLflow server shared by the
        // parallel pass once took over 10 s to answer one request under load.
        settings.requestTimeoutSeconds = 30
        change(&settings)
        return try await ModelSources.open(settings, logger: Fixtures.logger)
    }

    /// A loopback URL where nothing listens (port 1, tcpmux: never served here), so every
    /// connection is refused at once.
    static func deadURL() -> String { "http://127.0.0.1:1" }
}
