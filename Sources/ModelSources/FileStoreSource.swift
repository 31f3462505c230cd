import Artifacts
import Foundation

/// A file store (`mlruns/`, `MLRUNS_DIR`, `file:` tracking URIs) as a `ModelSource`: the
/// `MLflowStore` the service always read, with its blocking file reads on `ModelSourceThreads`.
public struct FileStoreSource: ModelSource {
    public let store: MLflowStore

    public init(store: MLflowStore) { self.store = store }

    public var description: String { "file store \(store.root.path)" }

    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await ModelSourceThreads.run(body)
    }

    public func experiments() async throws -> [Experiment] {
        let store = self.store
        return try await blocking { try store.experiments() }
    }

    public func runs(page: PageRequest) async throws -> Page<Run> {
        let store = self.store
        return Page(slicing: try await blocking { try store.runs() }, page: page)
    }

    public func registeredModels(page: PageRequest) async throws -> Page<RegisteredModel> {
        let store = self.store
        return Page(slicing: try await blocking { try store.registeredModels().sorted { $0.name < $1.name } }, page: page)
    }

    public func aliasVersion(model: String, alias: String) async throws -> Int {
        let store = self.store
        return try await blocking {
            guard let version = try store.registeredModel(named: model).aliases[alias] else {
                throw ArtifactError(.notFound, "registered model '\(model)' has no alias '\(MLflowStore.printable(alias))'")
            }
            return version
        }
    }

    public func resolve(_ reference: String) async throws -> ModelLocation {
        let store = self.store
        return try await blocking { try store.resolve(reference) }
    }

    public func servability(of run: Run) async -> Servability? {
        let store = self.store
        return try? await blocking { Servability.check({ try store.resolve(run.id) }, runId: run.id) }
    }
}
