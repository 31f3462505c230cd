import Artifacts
import Foundation
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// What a request meets while an experiment runs: the plan, the shadow queue and its drain, the
/// canary's counts, feedback scoring, and the model-step clock.
extension ChallengerService {
    // MARK: - The request path

    /// How `rows` readings decoded for `champion` are scored; nil when no experiment runs (or its
    /// challenger reads other features than the champion serving now).
    func plan(champion: HazardModel, moduleIds: [ModuleID?]?, rows: Int) -> Plan? {
        guard engaged.load(ordering: .relaxed), let running = state.withLock({ $0.running }) else { return nil }
        // A challenger that is the champion now (promoted outside the experiment) compares nothing.
        guard running.model.runId != champion.runId, running.model.featureNames == champion.featureNames else { return nil }
        switch running.mode {
        case .shadow:
            return .shadow(version: running.experiment.version)
        case .canary:
            let percent = running.percent
            var routes = [Bool](repeating: false, count: rows)
            // Readings without a module id follow the request's draw.
            let draw = ChallengerRouting.drawsChallenger(percent: percent)
            for row in 0..<rows {
                if let module = moduleIds?[row] {
                    routes[row] = ChallengerRouting.bucket(module) < percent
                } else {
                    routes[row] = draw
                }
            }
            return .canary(version: running.experiment.version, challenger: running.model, routes: routes)
        }
    }

    /// Queues champion-answered readings for the challenger; never waits (a full queue drops them).
    func shadow(version: Int64, raw: [Double], rows: Int, champion: [Float], championNanoseconds: Int64) {
        // One lock, one append; the drain is woken only when the queue was empty (it takes
        // everything queued after a linger), and the champion's step is counted there.
        let wakeDrain = state.withLock { state -> Bool in
            guard state.running?.experiment.version == version else { return false }
            guard state.queuedReadings + rows <= settings.queueReadings else {
                state.stats.shadowDropped += rows
                state.dirty = true
                return false
            }
            state.queue.append(ShadowJob(version: version, raw: raw, rows: rows, champion: champion, championNanoseconds: championNanoseconds))
            state.queuedReadings += rows
            return state.queue.count == 1
        }
        if wakeDrain { wake.yield() }
    }

    /// A canary request's model steps: readings per run, each step's time, whether the
    /// challenger's failed (its readings then went to the champion).
    func canary(version: Int64, champion: (rows: Int, nanoseconds: Int64)?, challenger: (rows: Int, nanoseconds: Int64, failed: Bool)?) {
        state.withLock { state in
            guard state.running?.experiment.version == version else { return }
            if let champion {
                state.stats.calls.champion += 1
                state.stats.routed.champion += champion.rows
                state.stats.latency.champion.record(nanoseconds: champion.nanoseconds)
            }
            if let challenger {
                state.stats.calls.challenger += 1
                if challenger.failed {
                    state.stats.errors.challenger += 1
                    state.stats.routed.champion += challenger.rows
                } else {
                    state.stats.routed.challenger += challenger.rows
                    state.stats.latency.challenger.record(nanoseconds: challenger.nanoseconds)
                }
            }
            state.dirty = true
        }
        if let champion {
            telemetry?.modelStep(role: .champion, nanoseconds: champion.nanoseconds)
            telemetry?.routed(role: .champion, readings: champion.rows)
        }
        if let challenger {
            telemetry?.modelStep(role: .challenger, nanoseconds: challenger.nanoseconds)
            telemetry?.routed(role: challenger.failed ? .champion : .challenger, readings: challenger.rows)
        }
    }

    /// The challenger's model step with the test hooks applied.
    func challengerProbabilities(_ model: HazardModel, raw: UnsafeBufferPointer<Double>, rows: Int) throws -> [Float] {
        if settings.faults.fail { throw ArtifactError(.xgboost, "the challenger failed (test fault)") }
        if let delay = settings.faults.delay {
            // A slow model spends CPU: spin, so the model step's CPU time shows it.
            let end = Self.cpuNanoseconds() + Self.nanoseconds(delay)
            while Self.cpuNanoseconds() < end {}
        }
        return try model.probabilities(raw: raw, rows: rows)
    }

    // MARK: - Feedback

    /// The challenger of the running experiment when it reads the champion's features.
    func feedbackChallenger(champion: HazardModel) -> (version: Int64, model: HazardModel)? {
        guard let running, running.model.runId != champion.runId, running.model.featureNames == champion.featureNames else { return nil }
        return (running.experiment.version, running.model)
    }

    /// Both runs' probabilities of the same labelled readings.
    func scoreFeedback(version: Int64, outcomes: [Int], champion: [Float], challenger: [Float]) {
        state.withLock { state in
            guard state.running?.experiment.version == version else { return }
            for (index, outcome) in outcomes.enumerated() where index < champion.count && index < challenger.count {
                state.stats.feedback.champion.add(probability: champion[index], outcome: outcome, threshold: threshold)
                state.stats.feedback.challenger.add(probability: challenger[index], outcome: outcome, threshold: threshold)
            }
            state.dirty = true
        }
    }

    // MARK: - The shadow drain

    /// Scores what the queue holds, after `shadowLingerMilliseconds` so that the readings of many
    /// requests are taken at once: one trip to the background thread (`Offload.Work.background`:
    /// SCHED_IDLE, so under load the shadow takes only idle CPU and its queue fills and drops instead
    /// of delaying answers), one lock for the counters, one increment per metric. Each request's
    /// readings are still scored and timed on their own, as the champion scored them.
    func drainShadow() async {
        while true {
            try? await Task.sleep(for: .milliseconds(settings.shadowLingerMilliseconds))
            let (jobs, running) = state.withLock { state -> ([ShadowJob], Running?) in
                defer {
                    state.queue = []
                    state.queuedReadings = 0
                }
                return (state.queue, state.running)
            }
            guard !jobs.isEmpty else { return }
            guard let running else { continue }
            let model = running.model, version = running.experiment.version
            let current = jobs.filter { $0.version == version }
            // Everything per request happens on the background thread, into counters of its own;
            // it takes no lock the request path takes (a preempted SCHED_IDLE thread holding one
            // would stall requests). The event loop then adds them up under one lock.
            let threshold = self.threshold, telemetry = self.telemetry
            let counted = try? await Offload.run(settings.shadowWork) { () -> ChallengerStats in
                var delta = ChallengerStats()
                var compared = 0, disagreements = 0
                for job in current {
                    delta.calls.champion += 1
                    delta.latency.champion.record(nanoseconds: job.championNanoseconds)
                    telemetry?.modelStep(role: .champion, nanoseconds: job.championNanoseconds)
                    let started = Self.cpuNanoseconds()
                    let probabilities = try? job.raw.withUnsafeBufferPointer { try self.challengerProbabilities(model, raw: $0, rows: job.rows) }
                    let nanoseconds = Self.cpuNanoseconds() - started
                    delta.calls.challenger += 1
                    guard let probabilities else {
                        delta.errors.challenger += 1
                        continue
                    }
                    delta.latency.challenger.record(nanoseconds: nanoseconds)
                    telemetry?.modelStep(role: .challenger, nanoseconds: nanoseconds)
                    let before = delta.disagreements
                    delta.compare(champion: job.champion, challenger: probabilities, threshold: threshold)
                    compared += job.rows
                    disagreements += delta.disagreements - before
                }
                if compared > 0 { telemetry?.challengerCompared(compared, disagreements: disagreements) }
                return delta
            }
            guard let counted else { continue }
            state.withLock { state in
                guard state.running?.experiment.version == version else { return }
                state.stats.merge(counted)
                state.dirty = true
            }
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// The calling thread's CPU time, in nanoseconds: what a model step is timed in, for both
    /// runs, so that a busy machine's scheduling (a thread preempted mid-step, the background
    /// thread's low priority) does not count as the model's time; a slower model does.
    static func cpuNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
