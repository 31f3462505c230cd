import ArgumentParser
import Artifacts
import Foundation
import InferenceAPI
import Logging
import ModelSources

/// `inference-api predict`: score a file of readings offline with the same code the server uses.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict hazard probabilities for a JSON file of readings.",
        discussion: """
            The input is a /predict body ({"readings": [...]}) or a fixture vector file. With a vector
            file that holds Python's "probabilities", --check compares them and fails beyond 1e-6.
            Without --model, a vector file's own mlruns and run_id are used. --explain adds, per
            reading, the features that moved its log-odds most (exact TreeSHAP), the bias and the margin.
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: "JSON file with \"readings\".")
    var input: String

    @Flag(help: "Compare with the file's \"probabilities\" and exit 1 if any differs by more than --tolerance.")
    var check = false

    @Option(help: "Largest accepted |swift - python| with --check.")
    var tolerance: Double = 1e-6

    @Flag(help: "Explain each reading: its largest TreeSHAP contributions (log-odds), bias and margin.")
    var explain = false

    @Option(help: "Contributions per reading with --explain.")
    var top: Int = 5

    @Option(help: "Predictor: auto (compiled forest when it equals the C API at load), compiled, or c-api.")
    var predictor: String = PredictorChoice.auto.rawValue

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: input))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let readings = root["readings"] as? [[String: Any]]
        else {
            throw ValidationError("\(input) has no \"readings\" list")
        }
        var configuration = try store.configuration()
        if store.mlruns == nil, let mlruns = root["mlruns"] as? String {
            let base = URL(fileURLWithPath: input).deletingLastPathComponent()
            configuration.mlrunsDirectory = Self.locate(mlruns, near: base) ?? mlruns
        }
        if store.model == nil, let runId = root["run_id"] as? String { configuration.modelReference = runId }
        let mlflow = try MLflowStore(root: URL(fileURLWithPath: configuration.mlrunsDirectory))
        let reference = try configuration.modelReference ?? ModelSelection.defaultReference(in: mlflow) ?? ""
        guard let choice = PredictorChoice(rawValue: predictor) else {
            throw ValidationError("--predictor must be one of \(PredictorChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let model = try HazardModel.load(from: mlflow, reference: reference, predictor: choice)
        // The server's own decoder: exact number conversion, the same validation messages.
        var decoder = ReadingsDecoder(featureNames: model.featureNames, maxReadings: max(1, readings.count))
        decoder.ignoresOtherTopLevelKeys = true
        let decoded: ReadingsDecoder.Readings
        do {
            decoded = try decoder.decode([UInt8](data))
        } catch {
            throw ValidationError("\(input): \(error)")
        }
        let predictions = try decoded.values.withUnsafeBufferPointer {
            try model.predict(raw: $0, rows: decoded.count, threshold: configuration.hazardThreshold)
        }
        var output: [String: Any] = [
            "run_id": model.runId, "model_uri": model.location.uri, "predictor": model.predictor.rawValue,
            "probabilities": predictions.map { Double($0.probability) }, "predictions": predictions.map(\.label),
        ]
        if explain {
            let explanations = try decoded.values.withUnsafeBufferPointer { try model.explain(raw: $0, rows: decoded.count, top: max(0, top)) }
            output["explanations"] = explanations.map { e in
                [
                    "bias": e.bias, "margin": e.margin,
                    "top": e.contributions.map { ["feature": $0.feature, "contribution": $0.value] as [String: Any] },
                ] as [String: Any]
            }
        }
        FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]))
        FileHandle.standardOutput.write(Data("\n".utf8))
        if check {
            struct Answers: Decodable { let probabilities: [Double]? }
            // JSONDecoder converts numbers exactly; JSONSerialization may miss by an ulp.
            guard let expected = try JSONDecoder().decode(Answers.self, from: data).probabilities, expected.count == predictions.count else {
                throw ValidationError("--check needs \"probabilities\" with one value per reading in \(input)")
            }
            let worst = zip(predictions, expected).map { abs(Double($0.probability) - $1) }.max() ?? 0
            FileHandle.standardError.write(Data("max |swift - python| = \(worst) over \(expected.count) readings (run \(model.runId))\n".utf8))
            if worst > tolerance { throw ExitCode(1) }
        }
    }

    /// Vector files name their store relative to the repository root; look upwards for it.
    static func locate(_ relative: String, near start: URL) -> String? {
        var directory = start
        for _ in 0..<6 {
            let candidate = directory.appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate.path }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }
}

/// `inference-api models`: the runs and registered models of the model source
/// (`MLFLOW_TRACKING_URI`, else the file store) and which reference start-up would serve.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the MLflow runs and registered models of the model source.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let configuration = try store.configuration()
        var settings = configuration.modelSource
        settings.mlrunsDirectory = configuration.mlrunsDirectory
        let source = try await ModelSources.open(settings, logger: Logger(label: "inference-api"))
        do {
            try await list(source, configured: configuration.modelReference)
        } catch {
            await source.close()
            throw error
        }
        await source.close()
    }

    private func list(_ source: any ModelSource, configured: String?) async throws {
        var chosen = configured
        if chosen == nil { chosen = try await ModelSelection.defaultReference(in: source) }
        print("source: \(source.description)")
        print("default: \(chosen ?? "(none)")")
        var token: String?
        repeat {
            let page = try await source.runs(page: PageRequest(maxResults: PageRequest.largest, token: token))
            for run in page.items {
                let auc = run.metrics["roc_auc"].map { String(format: "%.4f", $0.value) } ?? "-"
                let servable = switch await source.servability(of: run)?.servable {
                case true?: "servable"
                case false?: "no model"
                case nil: "not checked (downloaded on activation)"
                }
                print("\(run.id)  \(run.experimentName)/\(run.name ?? "-")  \(run.status)  roc_auc=\(auc)  \(servable)")
            }
            token = page.nextToken
        } while token != nil
        token = nil
        repeat {
            let page = try await source.registeredModels(page: PageRequest(maxResults: PageRequest.largest, token: token))
            for model in page.items {
                let aliases = model.aliases.sorted { $0.key < $1.key }.map { "@\($0.key)=v\($0.value)" }.joined(separator: " ")
                print("registered \(model.name): versions \(model.versions.map(\.version)) \(aliases)")
            }
            token = page.nextToken
        } while token != nil
    }
}
