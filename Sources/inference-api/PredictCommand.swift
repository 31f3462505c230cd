import ArgumentParser
import Artifacts
import Foundation
import InferenceAPI
import Logging
import ModelSources

/// `inference-api predict`: score a file of readings offline with the same code the server uses,
/// from any model source the server reads.
struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict hazard probabilities for a JSON file of readings.",
        discussion: """
            The input is a /predict body ({"readings": [...]}) or a fixture vector file. The model comes from --tracking-uri (default MLFLOW_TRACKING_URI), else --mlruns (default MLRUNS_DIR, else ./mlruns); a vector file without either names its own store and run. With a vector file that holds Python's "probabilities", --check prints its verdict and exits 1 beyond --tolerance (the answers themselves with --verbose). --explain adds, per reading, the features that moved its log-odds most (exact TreeSHAP), the bias and the margin, named as /predict names them.
            """)

    @OptionGroup var store: StoreOptions

    @Option(
        name: .customLong("tracking-uri"),
        help: "Where MLflow keeps the runs: a path, file:, sqlite:///..., postgresql://... or http(s)://... (MLFLOW_TRACKING_URI).")
    var trackingURI: String?

    @Argument(help: "JSON file with \"readings\".")
    var input: String

    @Flag(help: "Compare with the file's \"probabilities\": print the verdict, exit 1 if any differs by more than --tolerance.")
    var check = false

    @Flag(help: "With --check, also print the answers.")
    var verbose = false

    @Option(help: "Largest accepted |swift - python| with --check.")
    var tolerance: Double = 1e-6

    @Flag(help: "Explain each reading: its largest TreeSHAP contributions (log-odds), bias and margin.")
    var explain = false

    @Option(help: "Contributions per reading with --explain.")
    var top: Int = 5

    @Option(help: "Predictor: auto (compiled forest when it equals the C API at load), compiled, or c-api.")
    var predictor: String = PredictorChoice.auto.rawValue

    func run() async throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: input))
        } catch {
            throw CommandFailure("cannot read \(input): no such file, or not readable")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any], root["readings"] is [Any] else {
            throw CommandFailure("\(input) is not JSON with a \"readings\" list")
        }
        guard let choice = PredictorChoice(rawValue: predictor) else {
            throw ValidationError("--predictor must be one of \(PredictorChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var configuration = try await store.configuration()
        let base = URL(fileURLWithPath: input).deletingLastPathComponent()
        if let trackingURI {
            configuration.modelSource.trackingURI = trackingURI
        } else if store.mlruns == nil, configuration.modelSource.trackingURI == nil {
            // A vector file names the store that made it, relative to the repository root.
            if let uri = root["tracking_uri"] as? String, uri.hasPrefix("sqlite:///"), !uri.hasPrefix("sqlite:////") {
                let relative = String(uri.dropFirst("sqlite:///".count))
                configuration.modelSource.trackingURI = Self.locate(relative, near: base).map { "sqlite:///" + $0 } ?? uri
            } else if let mlruns = root["mlruns"] as? String {
                configuration.mlrunsDirectory = Self.locate(mlruns, near: base) ?? mlruns
            }
        }
        if store.model == nil, let runId = root["run_id"] as? String { configuration.modelReference = runId }
        var settings = configuration.modelSource
        settings.mlrunsDirectory = configuration.mlrunsDirectory
        if (settings.trackingURI ?? "").isEmpty, !FileManager.default.fileExists(atPath: settings.mlrunsDirectory) {
            throw CommandFailure(
                "no MLflow store at \(settings.mlrunsDirectory): set MLFLOW_TRACKING_URI or MLRUNS_DIR, or pass --tracking-uri or --mlruns")
        }
        let logger = Logger(label: "inference-api")
        let source = try await ModelSources.open(settings, logger: logger)
        defer { Task { await source.close() } }
        let models = ModelService(
            source: source, configuredReference: configuration.modelReference, selectMetric: configuration.modelSelectMetric, predictor: choice,
            logger: logger)
        let model = try await models.load(try await models.startupReference())

        // The server's own decoder: exact number conversion, the same validation messages.
        var decoder = ReadingsDecoder(featureNames: model.featureNames, maxReadings: max(1, (root["readings"] as? [Any])?.count ?? 1))
        decoder.ignoresOtherTopLevelKeys = true
        let decoded: ReadingsDecoder.Readings
        do {
            decoded = try decoder.decode([UInt8](data))
        } catch {
            throw CommandFailure("\(input): \(error)")
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
                    "contributions": e.contributions.map { ["feature": $0.feature, "value": $0.value] as [String: Any] },
                ] as [String: Any]
            }
        }
        let answers = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]) + Data("\n".utf8)
        guard check else {
            FileHandle.standardOutput.write(answers)
            return
        }
        struct Expected: Decodable { let probabilities: [Double]? }
        // JSONDecoder converts numbers exactly; JSONSerialization may miss by an ulp.
        guard let expected = try JSONDecoder().decode(Expected.self, from: data).probabilities, expected.count == predictions.count else {
            throw ValidationError("--check needs \"probabilities\" with one value per reading in \(input)")
        }
        let worst = zip(predictions, expected).map { abs(Double($0.probability) - $1) }.max() ?? 0
        let verdict = worst <= tolerance ? "ok" : "FAILED"
        print("\(verdict): max |swift - python| = \(worst) over \(expected.count) readings (tolerance \(tolerance), run \(model.runId), \(source.description))")
        if verbose { FileHandle.standardOutput.write(answers) }
        if worst > tolerance { throw ExitCode(1) }
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
        let configuration = try await store.configuration()
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
