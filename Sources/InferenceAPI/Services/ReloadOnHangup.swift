import Dispatch
import Logging
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGHUP re-resolves the configured model reference (an alias may have moved) and swaps to it
/// when it loads; a failure is logged and the current model keeps serving.
struct ReloadOnHangup: Service {
    let models: ModelService
    var audit: ActivationAudit?
    let logger: Logger

    func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP)
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        await withGracefulShutdownHandler {
            for await _ in stream.cancelOnGracefulShutdown() {
                await reload()
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    func reload() async {
        let models = self.models
        do {
            let reference = try await models.startupReference()
            let model = try await models.activate(reference)
            await audit?.record(model, reason: "SIGHUP \(reference)")
            logger.notice("SIGHUP: model reloaded", metadata: ["reference": "\(reference)", "run_id": "\(model.runId)"])
        } catch {
            logger.error("SIGHUP: reload failed, the current model keeps serving", metadata: ["reason": "\(error)"])
        }
    }
}
