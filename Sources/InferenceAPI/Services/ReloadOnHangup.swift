import Dispatch
import Logging
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGHUP re-resolves the configured model reference (an alias may have moved) and, when it
/// loads, records it for the whole fleet and swaps to it; a failure is logged and the current
/// model keeps serving everywhere.
struct ReloadOnHangup: Service {
    let models: ModelService
    let activation: ModelActivation
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
        do {
            let reference = try await models.startupReference()
            let (model, state) = try await activation.activate(reference, reason: "SIGHUP \(reference)")
            logger.notice(
                "SIGHUP: model reloaded", metadata: ["reference": "\(reference)", "run_id": "\(model.runId)", "fleet_version": "\(state.version)"])
        } catch {
            logger.error("SIGHUP: reload failed, the current model keeps serving", metadata: ["reason": "\(error)"])
        }
    }
}
