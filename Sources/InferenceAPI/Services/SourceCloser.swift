import Artifacts
import ServiceLifecycle

/// Closes the model source (database connections, the HTTP client) when the service shuts down.
struct SourceCloser: Service {
    let source: any ModelSource

    func run() async throws {
        try? await gracefulShutdown()
        await source.close()
    }
}
