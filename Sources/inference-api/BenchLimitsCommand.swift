import ArgumentParser
import Artifacts
import Dispatch
import Foundation
import InferenceAPI

/// `inference-api bench-limits`: the in-process limits `make bench` compares the HTTP server with.
///
/// - the XGBoost C API alone (`Booster.predict`, i.e. `XGBoosterPredictFromDense` with nthread 1,
///   plus the array interface string and the copy of the answer): one-row latency, and rows/s at
///   several batch sizes on one thread and on two threads (two callers, each with its own batch,
///   the most two cores can give);
/// - the compiled forest alone (`CompiledForest.probabilities`, bit for bit the C API's answers)
///   on the same scaled rows, one thread and two, beside the C API;
/// - `HazardModel.probabilities` (scaler + serving predictor, batches >= 512 split across both
///   cores) on the same rows, one caller and two;
/// - `HazardModel.explain` (TreeSHAP), microseconds per reading, one reading and 100 per call;
/// - `ReadingsDecoder` (request decoding + validation) on the bench's /predict bodies, per reading.
///
/// Rows come from a /predict body (the bench's 1000-reading body), decoded by the server's own
/// decoder and tiled to the largest batch. Every figure is the median of `--trials` timed loops,
/// but the one-thread C API and compiled forest, which loop by turns, at least 7 turns each, and
/// whose ratio is the median of the turns' ratios (issue 29: three runs within 10 %).
struct BenchLimits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-limits", abstract: "In-process limits for make bench: C API, compiled forest, HazardModel, ReadingsDecoder.")

    @OptionGroup var store: StoreOptions

    @Option(help: "A /predict body whose readings are the rows to predict.")
    var rows: String

    @Option(parsing: .upToNextOption, help: "/predict bodies to time ReadingsDecoder on.")
    var bodies: [String] = []

    @Option(parsing: .upToNextOption, help: "Batch sizes (rows per call).")
    var batches: [Int] = [1, 100, 1000, 10000]

    @Option(help: "Seconds per timed loop.")
    var seconds: Double = 0.25

    @Option(help: "Timed loops per figure; the median is reported.")
    var trials: Int = 3

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        let configuration = try await store.configuration()
        let mlflow = try MLflowStore(root: URL(fileURLWithPath: configuration.mlrunsDirectory))
        let reference = try configuration.modelReference ?? ModelSelection.defaultReference(in: mlflow) ?? ""
        let model = try HazardModel.load(from: mlflow, reference: reference)
        let width = model.featureCount

        // Raw rows through the server's decoder, tiled to the largest batch; scaled once for the C API.
        let decoder = ReadingsDecoder(featureNames: model.featureNames, maxReadings: 1_000_000)
        let source = try decoder.decode([UInt8](Data(contentsOf: URL(fileURLWithPath: rows))))
        let maxBatch = batches.max() ?? 1
        var raw = [Double](repeating: 0, count: maxBatch * width)
        for row in 0..<maxBatch {
            let from = (row % source.count) * width
            for column in 0..<width { raw[row * width + column] = source.values[from + column] }
        }
        var scaled = [Float](repeating: 0, count: maxBatch * width)
        raw.withUnsafeBufferPointer { input in
            scaled.withUnsafeMutableBufferPointer { model.scaler.transform(rows: input, count: maxBatch, into: $0) }
        }
        let booster = model.booster

        // Sanity: the C API on the scaled rows and HazardModel on the raw rows agree exactly.
        let direct = try scaled.withUnsafeBufferPointer { try booster.predict($0, rows: maxBatch) }
        let viaModel = try raw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: maxBatch) }
        guard direct == viaModel else { throw ValidationError("Booster.predict and HazardModel disagree") }

        guard let forest = model.forest else {
            throw ValidationError("the compiled forest does not serve this model: \(model.predictorReason)")
        }
        let compiled = try scaled.withUnsafeBufferPointer { try forest.probabilities($0, rows: maxBatch) }
        guard compiled.map(\.bitPattern) == direct.map(\.bitPattern) else { throw ValidationError("CompiledForest and the C API disagree") }

        var result: [String: Any] = [
            "run_id": model.runId, "features": width, "trees": booster.boostedRounds,
            "xgboost": XGBoostLibrary.versionString, "source_rows": source.count,
            "predictor": model.predictor.rawValue, "forest_layout": forest.layoutDescription,
            "explainer": model.explainerDescription,
        ]
        // What building and verifying the forest adds to a load (activation, start-up).
        let withoutForest = try HazardModel.load(from: mlflow, reference: reference, predictor: .cAPI)
        result["load_seconds"] = ["compiled": model.loadSeconds, "c_api": withoutForest.loadSeconds]

        // One-row latency, each call timed on its own.
        let one = Array(scaled[0..<width])
        let dense = try Self.latencies(calls: 3000) { _ = try one.withUnsafeBufferPointer { try booster.predict($0, rows: 1) } }
        let dmatrix = try Self.latencies(calls: 1000) { _ = try one.withUnsafeBufferPointer { try booster.predictViaDMatrix($0, rows: 1) } }
        let oneRaw = Array(raw[0..<width])
        let modelOne = try Self.latencies(calls: 3000) { _ = try oneRaw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: 1) } }
        result["capi_single_row_us"] = ["p50": dense.p50, "p99": dense.p99]
        result["capi_dmatrix_single_row_us"] = ["p50": dmatrix.p50, "p99": dmatrix.p99]
        let forestOne = try Self.latencies(calls: 3000) { _ = try one.withUnsafeBufferPointer { try forest.probabilities($0, rows: 1) } }
        result["model_single_row_us"] = ["p50": modelOne.p50, "p99": modelOne.p99]
        result["compiled_single_row_us"] = ["p50": forestOne.p50, "p99": forestOne.p99]

        // Explanations: one reading per call, and 100 per call (per reading).
        let explainOne = try Self.latencies(calls: 300) { _ = try oneRaw.withUnsafeBufferPointer { try model.explain(raw: $0, rows: 1, top: 5) } }
        let hundred = Array(raw[0..<(min(100, maxBatch) * width)])
        let explainBatch = try Self.latencies(calls: 20) {
            _ = try hundred.withUnsafeBufferPointer { try model.explain(raw: $0, rows: hundred.count / width, top: 5) }
        }
        let perReading = explainBatch.p50 / Double(hundred.count / width)
        result["explain_us_per_reading"] = ["single_p50": explainOne.p50, "single_p99": explainOne.p99, "batch_100": perReading]

        var capi: [[String: Any]] = []
        var compiledRates: [[String: Any]] = []
        var hazard: [[String: Any]] = []
        for batch in batches where batch >= 1 && batch <= maxBatch {
            let scaledBatch = Array(scaled[0..<(batch * width)])
            let rawBatch = Array(raw[0..<(batch * width)])
            let capiCall: @Sendable () throws -> Void = {
                _ = try scaledBatch.withUnsafeBufferPointer { try booster.predict($0, rows: batch) }
            }
            let modelCall: @Sendable () throws -> Void = {
                _ = try rawBatch.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: batch) }
            }
            let forestCall: @Sendable () throws -> Void = {
                _ = try scaledBatch.withUnsafeBufferPointer { try forest.probabilities($0, rows: batch) }
            }
            // One thread: the C API and the compiled forest loop by turns, and the ratio is the
            // median of each turn's own ratio, so a change in the machine's speed between two
            // loops (up to 2x within minutes on a shared VM) does not enter it.
            let paired = try pairedRates(batch: batch, capiCall, forestCall)
            let (c1, f1) = (paired.a, paired.b)
            let c2 = try rate(threads: 2, batch: batch, capiCall)
            let f2 = try rate(threads: 2, batch: batch, forestCall)
            // The Swift walk beside the AVX-512 one, in the same run (when the kernel serves).
            var swiftWalk: Double?
            if forest.walksWithKernel {
                let plain = forest.withoutKernel()
                swiftWalk = try rate(threads: 1, batch: batch) { _ = try scaledBatch.withUnsafeBufferPointer { try plain.probabilities($0, rows: batch) } }
            }
            let m1 = try rate(threads: 1, batch: batch, modelCall)
            let m2 = try rate(threads: 2, batch: batch, modelCall)
            capi.append(["batch": batch, "rows_per_s_1t": c1, "rows_per_s_2t": c2])
            var compiledRate: [String: Any] = ["batch": batch, "rows_per_s_1t": f1, "rows_per_s_2t": f2, "vs_capi_1t": paired.ratio, "vs_capi_2t": f2 / c2]
            if let visits = forest.nodeVisitsPerRow { compiledRate["ns_per_node_visit_1t"] = 1e9 / (f1 * Double(visits)) }
            if let swiftWalk { compiledRate["rows_per_s_1t_swift_walk"] = swiftWalk }
            compiledRates.append(compiledRate)
            hazard.append(["batch": batch, "rows_per_s_1caller": m1, "rows_per_s_2callers": m2])
        }
        result["capi"] = capi
        result["compiled"] = compiledRates
        result["hazard_model"] = hazard

        var decoding: [[String: Any]] = []
        for path in bodies {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let readings = try decoder.decode(bytes).count
            let call: @Sendable () throws -> Void = { _ = try decoder.decode(bytes) }
            let perSecond = try rate(threads: 1, batch: readings, call)
            decoding.append([
                "body": (path as NSString).lastPathComponent, "readings": readings, "bytes": bytes.count,
                "readings_per_s": perSecond, "us_per_reading": 1e6 / perSecond,
                "mb_per_s": perSecond / Double(readings) * Double(bytes.count) / 1e6,
            ])
        }
        result["decoder"] = decoding

        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        print("run \(model.runId): \(width) features, \(booster.boostedRounds) trees, libxgboost \(XGBoostLibrary.versionString)")
        print("predictor \(model.predictor.rawValue): \(model.predictorReason)")
        print(String(format: "load: %.1f ms with the forest built and verified, %.1f ms with the C API only", model.loadSeconds * 1e3, withoutForest.loadSeconds * 1e3))
        print(String(
            format: "one row: C API %.2f us p50 (p99 %.1f), via DMatrix %.1f us, compiled %.2f us (%.1fx), HazardModel %.2f us",
            dense.p50, dense.p99, dmatrix.p50, forestOne.p50, dense.p50 / forestOne.p50, modelOne.p50))
        print(String(format: "explain: %.1f us per reading alone (p99 %.1f), %.1f us per reading in 100s", explainOne.p50, explainOne.p99, perReading))
        for ((c, f), m) in zip(zip(capi, compiledRates), hazard) {
            print(String(
                format: "batch %5d: C API %9.0f rows/s (1 thread) %9.0f (2 threads); compiled %9.0f (%.1fx) %9.0f (%.1fx); HazardModel %9.0f (1 caller) %9.0f (2 callers)",
                c["batch"] as! Int, c["rows_per_s_1t"] as! Double, c["rows_per_s_2t"] as! Double,
                f["rows_per_s_1t"] as! Double, f["vs_capi_1t"] as! Double, f["rows_per_s_2t"] as! Double, f["vs_capi_2t"] as! Double,
                m["rows_per_s_1caller"] as! Double, m["rows_per_s_2callers"] as! Double))
            if let ns = f["ns_per_node_visit_1t"] as? Double {
                let swift = (f["rows_per_s_1t_swift_walk"] as? Double).map { String(format: "; Swift walk alone %.0f rows/s", $0) } ?? ""
                print(String(format: "             compiled: %.3f ns per node visit (1 thread)%@", ns, swift))
            }
        }
        for d in decoding {
            print(String(
                format: "ReadingsDecoder %@: %.0f readings/s, %.2f us/reading, %.0f MB/s",
                d["body"] as! String, d["readings_per_s"] as! Double, d["us_per_reading"] as! Double, d["mb_per_s"] as! Double))
        }
    }

    /// p50/p99 of single calls, in microseconds, after a short warm-up.
    static func latencies(calls: Int, _ body: () throws -> Void) throws -> (p50: Double, p99: Double) {
        for _ in 0..<min(200, calls) { try body() }
        var times = [Double]()
        times.reserveCapacity(calls)
        for _ in 0..<calls {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3)
        }
        times.sort()
        return (times[times.count / 2], times[min(times.count - 1, times.count * 99 / 100)])
    }

    /// Rows (or readings) per second with `threads` callers looping on `body` for `seconds`;
    /// median of `trials`.
    func rate(threads: Int, batch: Int, _ body: @escaping @Sendable () throws -> Void) throws -> Double {
        try body()  // warm-up (thread-local buffers, caches)
        var rates: [Double] = []
        for _ in 0..<max(1, trials) { rates.append(try timedLoop(threads: threads, batch: batch, body)) }
        return Self.median(rates)
    }

    /// One thread, `a` and `b` by turns (at least 7 turns each): the median rate of each and the
    /// median of the turns' ratios b / a.
    func pairedRates(
        batch: Int, _ a: @escaping @Sendable () throws -> Void, _ b: @escaping @Sendable () throws -> Void
    ) throws -> (a: Double, b: Double, ratio: Double) {
        try a()
        try b()
        var ratesA: [Double] = [], ratesB: [Double] = [], ratios: [Double] = []
        for _ in 0..<max(7, trials) {
            let rateA = try timedLoop(threads: 1, batch: batch, a)
            let rateB = try timedLoop(threads: 1, batch: batch, b)
            ratesA.append(rateA)
            ratesB.append(rateB)
            ratios.append(rateB / rateA)
        }
        return (Self.median(ratesA), Self.median(ratesB), Self.median(ratios))
    }

    /// Rows per second of `threads` callers looping on `body` for `seconds`.
    private func timedLoop(threads: Int, batch: Int, _ body: @escaping @Sendable () throws -> Void) throws -> Double {
        let counts = Tally(threads)
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + UInt64(seconds * 1e9)
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var calls = 0
            do {
                repeat {
                    try body()
                    calls += 1
                } while DispatchTime.now().uptimeNanoseconds < deadline
                counts.set(worker, .success(calls))
            } catch {
                counts.set(worker, .failure(error))
            }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(try counts.total() * batch) / elapsed
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}

/// Per-worker call counts written by `concurrentPerform` workers.
private final class Tally: @unchecked Sendable {
    private var slots: [Result<Int, any Error>?]
    private let lock = NSLock()
    init(_ count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<Int, any Error>) { lock.withLock { slots[index] = value } }
    func total() throws -> Int {
        try lock.withLock { slots }.reduce(0) { $0 + (try ($1 ?? .success(0)).get()) }
    }
}
