import Logging
import ServiceLifecycle
import Storage

/// Runs the fleet's background work for as long as the application runs: listening for the
/// other replicas' announcements, and every `interval` a heartbeat and a re-read of the fleet's
/// state (the catch-up for a missed notification). On shutdown, a last heartbeat says "not ready".
struct FleetService: Service {
    let coordinator: FleetCoordinator
    let interval: Duration

    func run() async throws {
        let coordinator = self.coordinator
        let interval = self.interval
        // Not a child task: shutdown cancels it without waiting for it, since a LISTEN waiting for
        // a pooled connection need not answer cancellation before the pool itself stops.
        let listening = Task {
            do {
                try await coordinator.store.listen { event in await coordinator.handle(event) }
            } catch {
                if !Task.isCancelled { coordinator.logger.error("fleet: listening stopped", metadata: ["error": "\(error)"]) }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    await coordinator.sync(trigger: "poll")
                    await coordinator.beat()
                }
            }
            try? await gracefulShutdown()
            listening.cancel()
            group.cancelAll()
        }
        await coordinator.beat(leaving: true)
    }
}
