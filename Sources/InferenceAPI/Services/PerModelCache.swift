import Artifacts
import Synchronization

/// A value derived from the served model (its decoder, its rendered summary), made once per
/// model and replaced when another model serves. Holds the last model only: a swap makes the
/// old value unreachable on the next call.
final class PerModelCache<Value: Sendable>: Sendable {
    private let last = Mutex<(model: HazardModel, value: Value)?>(nil)

    func value(for model: HazardModel, make: () -> Value) -> Value {
        if let found = last.withLock({ $0?.model === model ? $0?.value : nil }) { return found }
        let made = make()
        last.withLock { $0 = (model, made) }
        return made
    }
}
