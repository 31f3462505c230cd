import Foundation

/// The episode state machine of one asset (and kind): pure, so the stores run it inside the
/// transaction that writes the scores, and tests run it without a database.
///
/// Closed (no open episode): anomalous samples in a row are counted; the `minSamples`-th opens an
/// episode that starts at the first of them. Open: every anomalous sample raises the peak (and may
/// escalate `warning` to `critical`, once) and resets the normal run; `clearSamples` normal ones
/// in a row close it.
public struct EpisodeTracker: Sendable, Equatable {
    /// The anomalous run not yet long enough to open an episode.
    public var pendingRun: Int
    public var pendingStart: Date?
    public var pendingLast: Date?
    public var pendingPeak: Double
    public var pendingMetric: String?
    /// The open episode, if any.
    public var open: Episode?

    public init(
        pendingRun: Int = 0, pendingStart: Date? = nil, pendingLast: Date? = nil, pendingPeak: Double = 0, pendingMetric: String? = nil,
        open: Episode? = nil
    ) {
        self.pendingRun = pendingRun
        self.pendingStart = pendingStart
        self.pendingLast = pendingLast
        self.pendingPeak = pendingPeak
        self.pendingMetric = pendingMetric
        self.open = open
    }

    /// What one batch did: the changes in order, and the last state of every episode it touched
    /// (the rows to write).
    public struct Outcome: Sendable, Equatable {
        public var events: [EpisodeEvent] = []
        public var episodes: [Episode] = []

        mutating func touch(_ episode: Episode) {
            if let k = episodes.lastIndex(where: { $0.id == episode.id }) { episodes[k] = episode } else { episodes.append(episode) }
        }
    }

    /// Feeds `observations` (in time order) through the machine.
    public mutating func advance(
        _ observations: [EpisodeObservation], tenantId: String, assetId: String, kind: String, policy: EpisodePolicy,
        newId: () -> String = Episode.newId
    ) -> Outcome {
        var outcome = Outcome()
        // The open episode is changed in place, and written to `outcome` when an event needs it
        // and once at the end: not copied (five strings) and searched for per observation, which
        // was most of what a batch of a module's readings cost.
        var changed = false
        for o in observations {
            if open != nil {
                if o.isAnomaly {
                    open!.anomalousSamples += 1
                    open!.normalRun = 0
                    open!.lastAnomalyAt = max(open!.lastAnomalyAt, o.timestamp)
                    if o.score > open!.peakScore {
                        open!.peakScore = o.score
                        open!.metric = o.metric
                    }
                    let severity = policy.severity(open!.peakScore)
                    if severity > open!.severity {
                        open!.severity = severity
                        outcome.events.append(EpisodeEvent(change: .escalate, episode: open!))
                    }
                    changed = true
                } else {
                    open!.normalRun += 1
                    if open!.normalRun >= policy.clearSamples {
                        open!.state = .closed
                        open!.endedAt = o.timestamp
                        let closed = open.take()!
                        outcome.events.append(EpisodeEvent(change: .close, episode: closed))
                        outcome.touch(closed)
                        changed = false
                    } else {
                        changed = true
                    }
                }
            } else if o.isAnomaly {
                if pendingRun == 0 || o.score > pendingPeak {
                    pendingPeak = o.score
                    pendingMetric = o.metric
                }
                pendingRun += 1
                pendingStart = pendingRun == 1 ? o.timestamp : min(pendingStart ?? o.timestamp, o.timestamp)
                pendingLast = max(pendingLast ?? o.timestamp, o.timestamp)
                if pendingRun >= policy.minSamples {
                    let episode = Episode(
                        id: newId(), tenantId: tenantId, assetId: assetId, kind: kind, state: .open, severity: policy.severity(pendingPeak),
                        metric: pendingMetric ?? o.metric, peakScore: pendingPeak, startedAt: pendingStart ?? o.timestamp,
                        lastAnomalyAt: pendingLast ?? o.timestamp, anomalousSamples: pendingRun)
                    outcome.events.append(EpisodeEvent(change: .open, episode: episode))
                    outcome.touch(episode)
                    open = episode
                    clearPending()
                    changed = false
                }
            } else {
                clearPending()
            }
        }
        if changed, let open { outcome.touch(open) }
        return outcome
    }

    /// Whether the tracker holds anything: a pending run or an open episode.
    public var isLive: Bool { pendingRun > 0 || open != nil }

    private mutating func clearPending() {
        pendingRun = 0
        pendingStart = nil
        pendingLast = nil
        pendingPeak = 0
        pendingMetric = nil
    }
}
