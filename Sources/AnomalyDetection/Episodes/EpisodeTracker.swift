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
        for o in observations {
            if var episode = open {
                if o.isAnomaly {
                    episode.anomalousSamples += 1
                    episode.normalRun = 0
                    episode.lastAnomalyAt = max(episode.lastAnomalyAt, o.timestamp)
                    if o.score > episode.peakScore {
                        episode.peakScore = o.score
                        episode.metric = o.metric
                    }
                    let severity = policy.severity(episode.peakScore)
                    if severity > episode.severity {
                        episode.severity = severity
                        outcome.events.append(EpisodeEvent(change: .escalate, episode: episode))
                    }
                    open = episode
                } else {
                    episode.normalRun += 1
                    if episode.normalRun >= policy.clearSamples {
                        episode.state = .closed
                        episode.endedAt = o.timestamp
                        outcome.events.append(EpisodeEvent(change: .close, episode: episode))
                        open = nil
                    } else {
                        open = episode
                    }
                }
                outcome.touch(episode)
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
                }
            } else {
                clearPending()
            }
        }
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
