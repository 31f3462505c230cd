import Artifacts
import NIOCore

/// Hazard predictions on the active model: `/predict` bodies decoded and predicted, and raw rows
/// for the Open Inference routes. Where the work runs follows `Offload`.
struct PredictionService: Sendable {
    let models: ModelService
    let threshold: Double
    let maxReadings: Int
    let missingValues: ReadingsDecoder.MissingValues
    var telemetry: Telemetry?
    var drift: DriftMonitor?
    /// The champion/challenger experiment, when one may run.
    var challenger: ChallengerService?
    /// The decoder for the last model seen: building one (name tables, hash slots) per request
    /// cost as much as decoding a one-reading body.
    private let decoders = PerModelCache<ReadingsDecoder>()

    init(
        models: ModelService, threshold: Double, maxReadings: Int, missingValues: ReadingsDecoder.MissingValues, telemetry: Telemetry? = nil,
        drift: DriftMonitor? = nil
    ) {
        self.models = models
        self.threshold = threshold
        self.maxReadings = maxReadings
        self.missingValues = missingValues
        self.telemetry = telemetry
        self.drift = drift
    }

    struct Outcome: Sendable {
        let model: HazardModel
        let probabilities: [Float]
        let threshold: Double
        /// Per reading, when the body asked (`"explain"`): TreeSHAP contributions in log-odds.
        var explanations: [Explanation]?
        /// Set in canary mode: which readings the challenger answered (the others: `model`).
        var canary: Canary?

        /// The run that scored reading `index`.
        func runId(at index: Int) -> String {
            if let canary, canary.routes[index] { return canary.challenger.runId }
            return model.runId
        }
    }

    struct Canary: Sendable {
        let challenger: HazardModel
        let routes: [Bool]
        var challengerReadings: Int { routes.reduce(0) { $0 + ($1 ? 1 : 0) } }
    }

    /// A `/predict` body's readings, predicted, turned into the caller's answer by `answer`. A body
    /// big enough to leave the event loop is decoded, predicted and answered in one trip to the
    /// pool, not two (writing a 100-reading answer on the loop cost 5 % of the throughput).
    /// - Throws: `ReadingsDecoder.Failure` for a body that breaks the contract, `ServiceError`.
    func predict<Answer: Sendable>(
        body: ByteBuffer, answer: @escaping @Sendable (Outcome, ReadingsDecoder.Readings) -> Answer
    ) async throws -> Answer {
        guard let model = models.active else { throw ServiceError.noModel }
        let decoder = decoders.value(for: model) {
            ReadingsDecoder(featureNames: model.featureNames, maxReadings: maxReadings, missingValues: missingValues)
        }
        @Sendable func decode() throws -> ReadingsDecoder.Readings {
            try body.withUnsafeReadableBytes { raw throws(ReadingsDecoder.Failure) in try decoder.decode(raw) }
        }
        @Sendable func explained(_ outcome: Outcome, _ readings: ReadingsDecoder.Readings) throws -> Outcome {
            guard let top = readings.explainTop else { return outcome }
            var outcome = outcome
            outcome.explanations = try Self.explain(outcome, raw: readings.values, rows: readings.count, top: top)
            return outcome
        }
        let challenger = self.challenger
        if Offload.leavesEventLoop(.predictBody(bytes: body.readableBytes)) {
            return try await Offload.run(.blocking) {
                let readings = try decode()
                let plan = challenger?.plan(champion: model, moduleIds: readings.moduleIds, rows: readings.count)
                return answer(try explained(try predictNow(model: model, raw: readings.values, rows: readings.count, plan: plan), readings), readings)
            }
        }
        let readings = try decode()
        let plan = challenger?.plan(champion: model, moduleIds: readings.moduleIds, rows: readings.count)
        let outcome = try await Offload.run(.predict(rows: readings.count)) {
            try predictNow(model: model, raw: readings.values, rows: readings.count, plan: plan)
        }
        guard readings.explainTop != nil else { return answer(outcome, readings) }
        return try await Offload.run(.explain(rows: readings.count)) { answer(try explained(outcome, readings), readings) }
    }

    /// Predicts `rows` raw readings on `model` (the caller took it once, so a swap mid-request
    /// cannot change which model answers). A running experiment routes them as a request without
    /// module ids.
    func predict(model: HazardModel, raw: [Double], rows: Int) async throws -> Outcome {
        let plan = challenger?.plan(champion: model, moduleIds: nil, rows: rows)
        return try await Offload.run(.predict(rows: rows)) { try predictNow(model: model, raw: raw, rows: rows, plan: plan) }
    }

    /// TreeSHAP of every reading on the run that scored it.
    private static func explain(_ outcome: Outcome, raw: [Double], rows: Int, top: Int) throws -> [Explanation] {
        guard let canary = outcome.canary, canary.challengerReadings > 0 else {
            return try raw.withUnsafeBufferPointer { try outcome.model.explain(raw: $0, rows: rows, top: top) }
        }
        let width = rows > 0 ? raw.count / rows : 0
        var explanations = [Explanation?](repeating: nil, count: rows)
        for (model, goesToChallenger) in [(outcome.model, false), (canary.challenger, true)] {
            let picked = (0..<rows).filter { canary.routes[$0] == goesToChallenger }
            guard !picked.isEmpty else { continue }
            let subset = Self.rows(picked, of: raw, width: width)
            let explained = try subset.withUnsafeBufferPointer { try model.explain(raw: $0, rows: picked.count, top: top) }
            for (k, row) in picked.enumerated() { explanations[row] = explained[k] }
        }
        return explanations.map { $0! }
    }

    /// Rows `picked` of row-major `raw`, in order.
    private static func rows(_ picked: [Int], of raw: [Double], width: Int) -> [Double] {
        var subset: [Double] = []
        subset.reserveCapacity(picked.count * width)
        for row in picked { subset.append(contentsOf: raw[row * width..<(row + 1) * width]) }
        return subset
    }

    /// `predict` on the calling thread, counted in metrics, traffic and drift; scored as `plan` says.
    private func predictNow(model: HazardModel, raw: [Double], rows: Int, plan: ChallengerService.Plan? = nil) throws -> Outcome {
        let probabilities: [Float]
        var canary: Canary?
        do {
            switch plan {
            case nil:
                probabilities = try raw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: rows) }
            case .shadow(let version):
                let started = ChallengerService.cpuNanoseconds()
                probabilities = try raw.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: rows) }
                challenger?.shadow(
                    version: version, raw: raw, rows: rows, champion: probabilities, championNanoseconds: ChallengerService.cpuNanoseconds() - started)
            case .canary(let version, let challengerModel, let routes):
                (probabilities, canary) = try predictCanary(
                    model: model, challengerModel: challengerModel, version: version, raw: raw, rows: rows, routes: routes)
            }
        } catch {
            models.recordFailure()
            throw error
        }
        var hazardous = 0
        for p in probabilities where Double(p) >= threshold { hazardous += 1 }
        models.record(readings: rows, hazardous: hazardous)
        telemetry?.predictions(probabilities, threshold: threshold)
        if let drift { raw.withUnsafeBufferPointer { drift.observe(model: model, raw: $0, rows: rows) } }
        return Outcome(model: model, probabilities: probabilities, threshold: threshold, canary: canary)
    }

    /// Each reading on the run its route names, each run's step timed. A challenger that fails
    /// leaves its readings to the champion (counted as its error: the guard stops it), so the
    /// caller's answer never depends on the challenger working.
    private func predictCanary(
        model: HazardModel, challengerModel: HazardModel, version: Int64, raw: [Double], rows: Int, routes: [Bool]
    ) throws -> ([Float], Canary) {
        let picked = (0..<rows).filter { routes[$0] }
        var challengerStep: (rows: Int, nanoseconds: Int64, failed: Bool)?
        var challengerProbabilities: [Float]?
        if !picked.isEmpty, let challenger {
            let subset = picked.count == rows ? raw : Self.rows(picked, of: raw, width: raw.count / max(rows, 1))
            let started = ChallengerService.cpuNanoseconds()
            do {
                challengerProbabilities = try subset.withUnsafeBufferPointer { try challenger.challengerProbabilities(challengerModel, raw: $0, rows: picked.count) }
                challengerStep = (picked.count, ChallengerService.cpuNanoseconds() - started, false)
            } catch {
                challengerStep = (picked.count, ChallengerService.cpuNanoseconds() - started, true)
            }
        }
        let answered = challengerProbabilities == nil ? [Bool](repeating: false, count: rows) : routes
        let championRows = (0..<rows).filter { !answered[$0] }
        var probabilities = [Float](repeating: 0, count: rows)
        var championStep: (rows: Int, nanoseconds: Int64)?
        if !championRows.isEmpty {
            let subset = championRows.count == rows ? raw : Self.rows(championRows, of: raw, width: raw.count / max(rows, 1))
            let started = ChallengerService.cpuNanoseconds()
            let scored = try subset.withUnsafeBufferPointer { try model.probabilities(raw: $0, rows: championRows.count) }
            championStep = (championRows.count, ChallengerService.cpuNanoseconds() - started)
            for (k, row) in championRows.enumerated() { probabilities[row] = scored[k] }
        }
        if let challengerProbabilities {
            for (k, row) in picked.enumerated() { probabilities[row] = challengerProbabilities[k] }
        }
        challenger?.canary(version: version, champion: championStep, challenger: challengerStep)
        return (probabilities, Canary(challenger: challengerModel, routes: answered))
    }
}
