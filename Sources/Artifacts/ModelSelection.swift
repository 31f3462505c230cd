/// How the service picks the run to serve when none is configured.
public enum ModelSelection {
    /// The default reference for a store: the registry alias `champion` if any registered model
    /// has it (the model named `preferredName` first), otherwise the finished run with the highest
    /// `metric`. Nil when the store holds nothing servable.
    public static func defaultReference(
        in store: MLflowStore, alias: String = "champion", preferredName: String = "battery-hazard",
        metric: String = "roc_auc"
    ) throws -> String? {
        let models = try store.registeredModels().sorted { a, b in
            (a.name == preferredName ? 0 : 1, a.name) < (b.name == preferredName ? 0 : 1, b.name)
        }
        if let model = models.first(where: { $0.aliases[alias] != nil }) {
            return "models:/\(model.name)@\(alias)"
        }
        return try bestRun(in: store, metric: metric)?.id
    }

    /// The finished run with the highest value of `metric` that has a model, or nil.
    public static func bestRun(in store: MLflowStore, metric: String) throws -> Run? {
        try store.runs()
            .filter { $0.status == "FINISHED" && $0.metrics[metric] != nil }
            .sorted { $0.metrics[metric]!.value > $1.metrics[metric]!.value }
            .first { (try? store.resolve($0.id)) != nil }
    }
}

extension ModelSelection {
    /// `defaultReference(in:)` for any source: the alias, else the best finished run among the
    /// newest `PageRequest.largest` runs whose model the source does not know to be unservable.
    public static func defaultReference(
        in source: any ModelSource, alias: String = "champion", preferredName: String = "battery-hazard",
        metric: String = "roc_auc"
    ) async throws -> String? {
        let models = try await source.registeredModels(page: PageRequest(maxResults: PageRequest.largest)).items.sorted { a, b in
            (a.name == preferredName ? 0 : 1, a.name) < (b.name == preferredName ? 0 : 1, b.name)
        }
        if let model = models.first(where: { $0.aliases[alias] != nil }) {
            return "models:/\(model.name)@\(alias)"
        }
        let runs = try await source.runs(page: PageRequest(maxResults: PageRequest.largest)).items
        let scored: [(run: Run, value: Double)] = runs.compactMap { run in
            guard run.status == "FINISHED", let value = run.metrics[metric]?.value else { return nil }
            return (run, value)
        }
        let ranked = scored.sorted { $0.value > $1.value }.map(\.run)
        for run in ranked where await source.servability(of: run)?.servable != false {
            return run.id
        }
        return nil
    }
}
