import AnomalyDetection
import Foundation
import Storage

/// Alerts as EMS Core sees them (`eval-anomaly`): each scored test series fed, sample by sample,
/// through the service's own episode tracker (`EpisodeTracker`, default `EpisodePolicy`), read
/// against the injected runs.
struct EvalEpisodes {
    /// Injected runs of at least `policy.minSamples` samples (a shorter one cannot open an episode).
    var runs = 0
    /// Of those, runs during which an episode opened (or was already open at onset).
    var opened = 0
    /// Of those, opened at most `within` samples after onset (the onset sample is 0).
    var openedWithin = 0
    /// Samples from onset to the sample that opened the episode, over the runs that opened one.
    var delays: [Int] = []
    /// Episodes opened on normal samples (not in an injected run nor within `clearSamples` after one).
    var falseEpisodes = 0
    var normalSamples = 0
    let within: Int

    /// Samples in a week at the series' 5-minute step.
    static let samplesPerWeek = 7 * 24 * 3600 / EvalSeries.step

    var openShare: Double { Double(openedWithin) / Double(max(1, runs)) }
    var falsePerAssetWeek: Double { Double(falseEpisodes) / (Double(normalSamples) / Self.samplesPerWeek) }
    var medianDelay: Double? { EvalReport.median(delays) }

    init(_ assets: [EvalSeries], scores: [[Double]], threshold: Double, policy: EpisodePolicy = EpisodePolicy(outbox: false), within: Int = 3) {
        self.within = within
        for (series, scored) in zip(assets, scores) {
            // Per sample, the injected run it belongs to, and how far after one it is.
            var run = [Int?](repeating: nil, count: series.rows.count)
            var after = [Bool](repeating: false, count: series.rows.count)
            for (r, e) in series.events.enumerated() {
                for i in e.start..<(e.start + e.length) { run[i] = r }
                for i in (e.start + e.length)..<min(series.rows.count, e.start + e.length + policy.clearSamples) { after[i] = true }
            }
            var firstOpen = [Int?](repeating: nil, count: series.events.count)
            var tracker = EpisodeTracker()
            for i in series.rows.indices {
                if let r = run[i], i == series.events[r].start, tracker.open != nil { firstOpen[r] = firstOpen[r] ?? i }
                let observation = EpisodeObservation(timestamp: series.times[i], score: scored[i], isAnomaly: scored[i] >= threshold, metric: "all")
                let outcome = tracker.advance([observation], tenantId: "eval", assetId: "eval", kind: "anomaly", policy: policy, newId: { "ep" })
                for event in outcome.events where event.change == .open {
                    if let r = run[i] {
                        firstOpen[r] = firstOpen[r] ?? i
                    } else if !after[i] {
                        falseEpisodes += 1
                    }
                }
                if series.kinds[i].isEmpty { normalSamples += 1 }
            }
            for (r, e) in series.events.enumerated() where e.length >= policy.minSamples {
                runs += 1
                guard let i = firstOpen[r] else { continue }
                opened += 1
                delays.append(i - e.start)
                if i - e.start <= within { openedWithin += 1 }
            }
        }
    }
}
