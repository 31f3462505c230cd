import Storage

@testable import InferenceAPI

extension TestApp {
    /// The one swap path over a fleet of this process alone (a memory fleet store, no audit log).
    static func activation(_ models: ModelService) -> ModelActivation {
        let fleet = FleetCoordinator(
            identity: FleetCoordinator.identity(configured: "test"), store: MemoryFleetStore(), models: models, logger: .init(label: "test"))
        return ModelActivation(models: models, fleet: fleet, audit: nil, logger: .init(label: "test"))
    }
}
