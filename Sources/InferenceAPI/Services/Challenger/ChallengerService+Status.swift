import Artifacts
import Foundation
import Storage

/// `GET /models/challenger`: the experiment with the fleet's counters.
struct ChallengerStatus: Encodable, Sendable {
    struct Run: Encodable, Sendable {
        let run_id: String
        let run_name: String?
        let model_uri: String?
        /// What the experiment was started with (`models:/battery-hazard@challenger`, a run id).
        let reference: String?
    }

    struct Pair<Value: Encodable & Sendable>: Encodable, Sendable {
        let champion: Value
        let challenger: Value
    }

    struct Latency: Encodable, Sendable {
        /// Model-step calls timed.
        let count: Int
        /// Upper bounds of the log-histogram buckets holding the quantiles (within 19 %).
        let p50_us: Double?
        let p99_us: Double?
    }

    struct Feedback: Encodable, Sendable {
        let n: Int
        let precision: Double?
        let recall: Double?
        /// From probabilities rounded to 1e-4, ties counting half.
        let auc: Double?
    }

    struct DiffBin: Encodable, Sendable {
        /// `|champion - challenger|` at most this (the first bin: exactly 0).
        let up_to: Double
        let count: Int
    }

    struct Stopped: Encodable, Sendable {
        let reason: String
        let at: String?
    }

    let version: Int64
    let mode: String
    let percent: Int?
    let sticky: String
    let status: String
    let started_at: String
    let started_by: String
    let champion: Run?
    let challenger: Run
    let compared: Int
    let label_agreement: Double?
    let mean_abs_diff: Double?
    let max_abs_diff: Double?
    let abs_diff_histogram: [DiffBin]
    let routed: Pair<Int>
    let calls: Pair<Int>
    let errors: Pair<Int>
    let latency: Pair<Latency>
    let shadow_dropped: Int
    let feedback: Pair<Feedback>
    let stopped: Stopped?
    /// Whose counters are summed: `fleet` (every replica's, from PostgreSQL) or `replica`.
    let counted_over: String

    init(experiment: FleetExperiment, champion: HazardModel?, challenger: HazardModel?, stats: ChallengerStats, shared: Bool) {
        version = experiment.version
        mode = experiment.mode
        percent = experiment.mode == ChallengerService.Mode.canary.rawValue ? experiment.percent : nil
        sticky = experiment.sticky
        status = experiment.status.rawValue
        started_at = ModelInfo.timestamp(experiment.startedAt)
        started_by = experiment.startedBy
        self.champion = champion.map { Run(run_id: $0.runId, run_name: $0.location.run.name, model_uri: $0.location.uri, reference: nil) }
        self.challenger = Run(
            run_id: experiment.runId, run_name: challenger?.location.run.name, model_uri: challenger?.location.uri, reference: experiment.reference)
        compared = stats.compared
        label_agreement = stats.compared > 0 ? Double(stats.compared - stats.disagreements) / Double(stats.compared) : nil
        mean_abs_diff = stats.compared > 0 ? stats.sumAbsDiff / Double(stats.compared) : nil
        max_abs_diff = stats.compared > 0 ? stats.maxAbsDiff : nil
        abs_diff_histogram = stats.diffHistogram.enumerated().map { index, count in
            DiffBin(up_to: index == 0 ? 0 : ChallengerStats.diffBounds[index - 1], count: count)
        }
        routed = Pair(champion: stats.routed.champion, challenger: stats.routed.challenger)
        calls = Pair(champion: stats.calls.champion, challenger: stats.calls.challenger)
        errors = Pair(champion: stats.errors.champion, challenger: stats.errors.challenger)
        func latency(_ histogram: LatencyHistogram) -> Latency {
            Latency(count: histogram.count, p50_us: histogram.quantileMicroseconds(0.5), p99_us: histogram.quantileMicroseconds(0.99))
        }
        self.latency = Pair(champion: latency(stats.latency.champion), challenger: latency(stats.latency.challenger))
        shadow_dropped = stats.shadowDropped
        func feedback(_ tally: FeedbackTally) -> Feedback {
            Feedback(n: tally.count, precision: tally.precision, recall: tally.recall, auc: tally.auc)
        }
        self.feedback = Pair(champion: feedback(stats.feedback.champion), challenger: feedback(stats.feedback.challenger))
        stopped = experiment.status == .stopped ? Stopped(reason: experiment.reason ?? "", at: experiment.endedAt.map(ModelInfo.timestamp)) : nil
        counted_over = shared ? "fleet" : "replica"
    }
}

extension ChallengerService {
    /// The running experiment (or the last one, if the guard stopped it) with the fleet's counters;
    /// nil when none runs.
    func status(champion: HazardModel?) async throws -> ChallengerStatus? {
        guard let (experiment, model) = described else { return nil }
        let stats = try await totals(version: experiment.version)
        return ChallengerStatus(experiment: experiment, champion: champion, challenger: model, stats: stats, shared: store.isShared)
    }

    /// The challenger becomes the served run through the one activation path; the experiment ends.
    /// - Throws: `ServiceError` when none runs; `ModelActivation.NotRecorded` when the fleet's
    ///   state could not be written (nothing changed).
    func promote(through activation: ModelActivation) async throws -> (model: HazardModel, version: Int64) {
        guard let running else { throw ServiceError(.unprocessable, code: "no_experiment", "no challenger experiment is running") }
        let version = running.experiment.version
        try await activation.install(
            running.model, reference: running.experiment.reference, reason: "promoted from challenger experiment \(version)")
        await stop(version: version, status: .promoted, reason: "promoted to champion")
        return (running.model, version)
    }
}
