import AnomalyDetection
import ComputeSupport
import Foundation
import Testing

/// The episode state machine without a database.
@Suite("Episode tracker")
struct EpisodeTrackerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let policy = EpisodePolicy(minSamples: 2, clearSamples: 5, criticalScore: 0.9)

    /// `pattern`: `.` normal (0.2), `a` anomalous 0.7, `c` anomalous 0.95; one sample a minute.
    static func observations(_ pattern: String, metric: String = "cpu") -> [EpisodeObservation] {
        pattern.enumerated().map { i, c in
            let score = c == "." ? 0.2 : c == "a" ? 0.7 : 0.95
            return EpisodeObservation(timestamp: t0.addingTimeInterval(Double(i) * 60), score: score, isAnomaly: c != ".", metric: c == "c" ? "latency" : metric)
        }
    }

    static func run(_ pattern: String, _ tracker: inout EpisodeTracker) -> EpisodeTracker.Outcome {
        var n = 0
        return tracker.advance(observations(pattern), tenantId: "t", assetId: "a", kind: "anomaly", policy: policy) {
            n += 1
            return "ep_\(n)"
        }
    }

    @Test func testASingleAnomalousSampleOpensNothingAndTwoInARowOpenOneEpisodeFromTheFirst() {
        var tracker = EpisodeTracker()
        #expect(Self.run("..a..a.", &tracker).events.isEmpty)
        var fresh = EpisodeTracker()
        let outcome = Self.run("..aa..", &fresh)
        #expect(outcome.events.map(\.change) == [.open])
        let episode = try! #require(outcome.events.first?.episode)
        #expect(episode.startedAt == Self.t0.addingTimeInterval(120) && episode.anomalousSamples == 2)
        #expect(episode.severity == .warning && episode.state == .open && episode.metric == "cpu")
        #expect(fresh.open?.normalRun == 2)
    }

    @Test func testFiveNormalSamplesCloseAndFourDoNot() {
        var tracker = EpisodeTracker()
        let outcome = Self.run("aa....a.....", &tracker)
        #expect(outcome.events.map(\.change) == [.open, .close])
        let closed = outcome.events[1].episode
        #expect(closed.state == .closed && closed.anomalousSamples == 3)
        #expect(closed.endedAt == Self.t0.addingTimeInterval(11 * 60), "closed by the fifth normal sample")
        #expect(closed.lastAnomalyAt == Self.t0.addingTimeInterval(6 * 60))
        #expect(tracker.open == nil)
        #expect(outcome.episodes.count == 1, "one row written for one episode")
    }

    @Test func testEscalationHappensOnceAndNamesThePeakMetric() {
        var tracker = EpisodeTracker()
        let outcome = Self.run("aaacac.....", &tracker)
        #expect(outcome.events.map(\.change) == [.open, .escalate, .close])
        #expect(outcome.events[1].episode.severity == .critical && outcome.events[1].episode.metric == "latency")
        var critical = EpisodeTracker()
        #expect(Self.run("ca.....", &critical).events.map(\.change) == [.open, .close], "opened critical: no escalation")
    }

    @Test func testSplittingTheSeriesAcrossBatchesChangesNothing() {
        var generator = SplitMix64(seed: 7)
        let pattern = String((0..<2000).map { _ in
            let r = Double(generator.next() % 1000) / 1000
            return r < 0.8 ? "." : r < 0.97 ? "a" : "c"
        })
        var whole = EpisodeTracker()
        let expected = whole.advance(Self.observations(pattern), tenantId: "t", assetId: "a", kind: "anomaly", policy: Self.policy) { "x" }
        var split = EpisodeTracker()
        var events: [EpisodeEvent] = []
        var offset = 0
        let all = Self.observations(pattern)
        while offset < all.count {
            let size = Int(generator.next() % 37) + 1
            let part = Array(all[offset..<min(offset + size, all.count)])
            events += split.advance(part, tenantId: "t", assetId: "a", kind: "anomaly", policy: Self.policy) { "x" }.events
            offset += size
        }
        #expect(events == expected.events)
        #expect(split == whole)
        #expect(expected.events.count > 20, "the series has episodes to compare")
    }

    /// The rows a batch writes: the last state of every episode it touched, in the order first
    /// touched; the same as one observation at a time, each outcome's rows merged by id.
    @Test func testABatchWritesTheLastStateOfEachEpisodeItTouched() {
        var generator = SplitMix64(seed: 9)
        let pattern = String((0..<3000).map { _ in
            let r = Double(generator.next() % 1000) / 1000
            return r < 0.75 ? "." : r < 0.97 ? "a" : "c"
        })
        let all = Self.observations(pattern)
        var n = 0
        var batch = EpisodeTracker(), single = EpisodeTracker()
        let newIdBatch = { n += 1; return "ep_\(n)" }
        var m = 0
        var offset = 0
        while offset < all.count {
            let size = Int(generator.next() % 200) + 1
            let part = Array(all[offset..<min(offset + size, all.count)])
            offset += size
            let outcome = batch.advance(part, tenantId: "t", assetId: "a", kind: "anomaly", policy: Self.policy, newId: newIdBatch)
            // Expected from the tracker's state after each observation, not from `episodes`: every
            // observation while an episode is open touches it, and so do its events.
            var expected: [Episode] = []
            func upsert(_ episode: Episode) {
                if let k = expected.firstIndex(where: { $0.id == episode.id }) { expected[k] = episode } else { expected.append(episode) }
            }
            for o in part {
                let wasOpen = single.open != nil
                let step = single.advance([o], tenantId: "t", assetId: "a", kind: "anomaly", policy: Self.policy) { m += 1; return "ep_\(m)" }
                step.events.forEach { upsert($0.episode) }
                if wasOpen, let open = single.open { upsert(open) }
            }
            #expect(outcome.episodes == expected, "batch ending at \(offset)")
            #expect(batch == single)
        }
        #expect(n > 30 && n == m, "the series opens episodes to compare")
    }
}
