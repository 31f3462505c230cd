import AnomalyDetection
import Foundation
import Storage
import Testing

/// Episodes, the outbox and keyset paging, the same on PostgreSQL, SQLite and memory.
@Suite("Episode and outbox store contract")
struct EpisodeStoreContractTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000.123456)
    static let policy = EpisodePolicy(minSamples: 2, clearSamples: 5, criticalScore: 0.9)

    /// Scores from a pattern (`.` normal, `a` anomalous 0.7, `c` anomalous 0.95), a minute apart from `start`.
    static func batch(_ pattern: String, asset: String, start: Int = 0) -> ([MetricSample], [AnomalyScoreRecord]) {
        var samples: [MetricSample] = []
        var scores: [AnomalyScoreRecord] = []
        for (k, c) in pattern.enumerated() {
            let time = t0.addingTimeInterval(Double(start + k) * 60)
            samples.append(MetricSample(timestamp: time, metrics: ["cpu": Double(k)]))
            scores.append(
                AnomalyScoreRecord(
                    tenantId: "t1", assetId: asset, metricName: c == "c" ? "latency" : "cpu", score: c == "." ? 0.2 : c == "a" ? 0.7 : 0.95,
                    isAnomaly: c != ".", threshold: 0.6, method: "isolation_forest", modelId: nil, timestamp: time))
        }
        return (samples, scores)
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func episodesAcrossBatchesAndTheirOutboxRows(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            // One episode spans two requests: opened in the first, escalated and closed in the second.
            let first = Self.batch("..aa.", asset: "r1")
            let opened = try await stores.anomalies.recordDetection(
                tenantId: "t1", assetId: "r1", samples: first.0, scores: first.1, episodes: Self.policy)
            #expect(opened.map(\.change) == [.open], "\(backend)")
            let second = Self.batch("c.....a", asset: "r1", start: 5)
            let later = try await stores.anomalies.recordDetection(
                tenantId: "t1", assetId: "r1", samples: second.0, scores: second.1, episodes: Self.policy)
            #expect(later.map(\.change) == [.escalate, .close], "\(backend)")
            #expect(Set((opened + later).map(\.episode.id)).count == 1, "\(backend): one episode")

            let listed = try await stores.episodes.episodes(EpisodeQuery(tenantId: "t1"))
            #expect(listed.count == 1, "\(backend)")
            let episode = try #require(listed.first)
            #expect(episode.state == .closed && episode.severity == .critical && episode.metric == "latency" && episode.anomalousSamples == 3)
            #expect(abs(episode.startedAt.timeIntervalSince(Self.t0.addingTimeInterval(120))) < 1e-5, "\(backend): \(episode.startedAt)")
            #expect(try await stores.episodes.episodes(EpisodeQuery(tenantId: "t2")).isEmpty, "\(backend): tenants apart")
            #expect(try await stores.episodes.episodes(EpisodeQuery(tenantId: "t1", state: .open)).isEmpty)

            // The pending anomalous sample at the end survives into the next batch.
            let third = Self.batch("a", asset: "r1", start: 12)
            let reopened = try await stores.anomalies.recordDetection(
                tenantId: "t1", assetId: "r1", samples: third.0, scores: third.1, episodes: Self.policy)
            #expect(reopened.map(\.change) == [.open], "\(backend): the run carried over")

            let pending = try await stores.outbox.messages(tenantId: "t1", state: .pending, afterId: nil, limit: 100)
            #expect(pending.map { "\($0.change.rawValue)/\($0.target.rawValue)" } == [
                "open/event", "open/alert", "escalate/event", "escalate/alert", "close/event", "open/event", "open/alert",
            ], "\(backend)")
            #expect(try await stores.outbox.counts().pending == 7)

            // Without a policy, or without the outbox: nothing queued.
            let plain = Self.batch("aaaa", asset: "r2")
            #expect(try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r2", samples: plain.0, scores: plain.1, episodes: nil).isEmpty)
            var quiet = Self.policy
            quiet.outbox = false
            let silent = Self.batch("aaaa", asset: "r3")
            let recorded = try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r3", samples: silent.0, scores: silent.1, episodes: quiet)
            #expect(recorded.map(\.change) == [.open])
            #expect(try await stores.outbox.counts().pending == 7, "\(backend): episodes recorded, nothing queued")
            #expect(try await stores.episodes.episodes(EpisodeQuery(tenantId: "t1", assetId: "r3")).count == 1)
        }
    }

    @Test(arguments: [TestDatabases.Backend.sqlite, .postgres])
    func aFailedOutboxWriteRollsBackTheScores(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            try await Introspection.execute(stores.database, "DROP TABLE ems_outbox")
            let run = Self.batch("..aa..", asset: "r1")
            await #expect(throws: (any Error).self) {
                try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r1", samples: run.0, scores: run.1, episodes: Self.policy)
            }
            #expect(try await stores.anomalies.scores(ScoreQuery(tenantId: "t1", assetId: "r1", limit: 100)).isEmpty, "\(backend): no scores")
            #expect(try await stores.episodes.episodes(EpisodeQuery(tenantId: "t1")).isEmpty, "\(backend): no episode")
            #expect(try await stores.anomalies.assets(tenantId: "t1").isEmpty, "\(backend): no samples")
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func claimingLeasesParkingAndRetrying(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let a = Self.batch("aac.....", asset: "r1")  // open, escalate, close: 5 messages of one episode
            try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r1", samples: a.0, scores: a.1, episodes: Self.policy)
            let b = Self.batch("aa", asset: "r2")  // open: 2 messages
            try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r2", samples: b.0, scores: b.1, episodes: Self.policy)
            let now = Date().addingTimeInterval(1)
            let claimed = try await stores.outbox.claimDue(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
            #expect(claimed.map(\.assetId) == ["r1", "r2"], "\(backend): one message per episode, oldest first")
            #expect(claimed.allSatisfy { $0.change == .open && $0.target == .event })
            #expect(try await stores.outbox.claimDue(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10).isEmpty, "\(backend): leased")

            let first = try #require(claimed.first?.id), second = try #require(claimed.last?.id)
            try await stores.outbox.settle([
                OutboxResult(id: first, .delivered(at: now)), OutboxResult(id: second, .retry(attempts: 1, at: now.addingTimeInterval(30), error: "EMS Core answered 503")),
            ])
            let next = try await stores.outbox.claimDue(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
            #expect(next.map { "\($0.assetId)/\($0.change.rawValue)/\($0.target.rawValue)" } == ["r1/open/alert"], "\(backend): r2 waits for its retry")
            try await stores.outbox.settle([OutboxResult(id: try #require(next.first?.id), .parked(attempts: 1, reason: "EMS Core answered 400: bad severity"))])
            try await stores.outbox.settle([OutboxResult(id: first, .parked(attempts: 9, reason: "too late"))])
            let parked = try await stores.outbox.messages(tenantId: "t1", state: .parked, afterId: nil, limit: 10)
            #expect(parked.count == 1 && parked.first?.lastError == "EMS Core answered 400: bad severity", "\(backend)")
            #expect(try await stores.outbox.messages(tenantId: "t2", state: .parked, afterId: nil, limit: 10).isEmpty)

            // The rest of r1 flows past the parked message; the expedited r2 retry is due at once.
            try await stores.outbox.expedite(now: now)
            let flowing = try await stores.outbox.claimDue(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
            #expect(flowing.map { "\($0.assetId)/\($0.change.rawValue)/\($0.target.rawValue)" } == ["r1/escalate/event", "r2/open/event"], "\(backend)")
            #expect(flowing.last?.attempts == 1)

            #expect(try await stores.outbox.retryParked(tenantId: "t2", ids: nil, now: now) == 0, "\(backend): not another tenant's")
            #expect(try await stores.outbox.retryParked(tenantId: "t1", ids: [999_999], now: now) == 0)
            #expect(try await stores.outbox.retryParked(tenantId: "t1", ids: nil, now: now) == 1)
            let counts = try await stores.outbox.counts()
            #expect(counts.pending == 6 && counts.delivered == 1 && counts.parked == 0, "\(backend): \(counts)")
        }
    }

    /// Many modules' trackers in one call (hazard bookkeeping records batches of thousands): every
    /// store gives each module the changes its tracker alone gives, across three calls, with the
    /// outbox rows those changes make, and the same live set.
    @Test(arguments: TestDatabases.Backend.allCases)
    func manyTrackersInOneCallAdvanceAsEachAlone(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            let patterns = ["aa.....", ".a.a.", "aac", ".....", "caa...a"]
            let splits = [0, 3, 5, 7]
            var expected: [String: [EpisodeChange]] = [:]
            var messages = 0
            var live = Set<String>()
            var trackers: [String: EpisodeTracker] = [:]
            var got: [String: [EpisodeChange]] = [:]
            var lastLive = Set<String>()
            for call in 0..<3 {
                var observations: [String: [EpisodeObservation]] = [:]
                for k in 0..<600 {
                    let module = "m-\(k)"
                    let pattern = Array(patterns[k % patterns.count])
                    let part = pattern[min(splits[call], pattern.count)..<min(splits[call + 1], pattern.count)]
                    guard !part.isEmpty else { continue }
                    observations[module] = part.enumerated().map { i, c in
                        EpisodeObservation(
                            timestamp: Self.t0.addingTimeInterval(Double(splits[call] + i) * 60), score: c == "." ? 0.1 : c == "a" ? 0.7 : 0.95,
                            isAnomaly: c != ".", metric: "hazard_probability")
                    }
                    var tracker = trackers[module] ?? EpisodeTracker()
                    let outcome = tracker.advance(observations[module]!, tenantId: "t1", assetId: module, kind: "hazard", policy: Self.policy)
                    trackers[module] = tracker
                    expected[module, default: []] += outcome.events.map(\.change)
                    messages += OutboxMessage.messages(for: outcome.events, now: Self.t0).count
                    if tracker.isLive { live.insert(module) } else { live.remove(module) }
                }
                let batch = try await stores.episodes.recordEpisodes(tenantId: "t1", kind: "hazard", observations: observations, policy: Self.policy)
                for event in batch.events { got[event.episode.assetId, default: []].append(event.change) }
                lastLive = lastLive.subtracting(observations.keys).union(batch.live)
            }
            #expect(got.filter { !$0.value.isEmpty } == expected.filter { !$0.value.isEmpty }, "\(backend)")
            #expect(lastLive == live, "\(backend): \(lastLive.count) live, expected \(live.count)")
            let changes = expected.values.reduce(0) { $0 + $1.count }
            let counts = try await stores.outbox.counts()
            #expect(changes > 0 && counts.pending == messages, "\(backend): \(counts.pending) outbox rows, \(messages) expected for \(changes) changes")
            let stored = try await stores.episodes.liveTrackers(kind: "hazard")
            #expect(Set(stored.map(\.assetId)) == live, "\(backend)")
        }
    }

    @Test(arguments: TestDatabases.Backend.allCases)
    func keysetPagesYieldEveryRowOnce(_ backend: TestDatabases.Backend) async throws {
        try await TestDatabases.withStores(backend) { stores in
            // 30 episodes, several starting at the same instant in different requests' order.
            var pattern = ""
            for _ in 0..<30 { pattern += "aa....." }
            let run = Self.batch(pattern, asset: "r1")
            try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r1", samples: run.0, scores: run.1, episodes: Self.policy)
            var seen: [String] = []
            var after: (startedAt: Date, id: String)?
            repeat {
                let page = try await stores.episodes.episodes(EpisodeQuery(tenantId: "t1", after: after, limit: 7))
                seen += page.map(\.id)
                after = page.last.map { ($0.startedAt, $0.id) }
                if page.count < 7 { break }
            } while true
            #expect(seen.count == 30 && Set(seen).count == 30, "\(backend): \(seen.count)")

            // Scores: equal timestamps broken by id; pages of 333 over 1000 rows.
            var samples: [MetricSample] = [], scores: [AnomalyScoreRecord] = []
            for k in 0..<1000 {
                let time = Self.t0.addingTimeInterval(Double(k / 2))  // pairs share a timestamp
                samples.append(MetricSample(timestamp: time, metrics: ["x": 1]))
                scores.append(
                    AnomalyScoreRecord(
                        tenantId: "t1", assetId: "r9", metricName: "x", score: 0.1, isAnomaly: false, threshold: 0.6, method: "zscore", modelId: nil,
                        timestamp: time))
            }
            try await stores.anomalies.recordDetection(tenantId: "t1", assetId: "r9", samples: samples, scores: scores)
            var ids: [Int64] = []
            var cursor: (timestamp: Date, id: Int64)?
            while true {
                let page = try await stores.anomalies.scores(ScoreQuery(tenantId: "t1", assetId: "r9", after: cursor, limit: 333))
                ids += page.compactMap(\.id)
                guard page.count == 333, let last = page.last else { break }
                cursor = (last.timestamp, last.id!)
            }
            #expect(ids.count == 1000 && Set(ids).count == 1000, "\(backend): \(ids.count) ids, \(Set(ids).count) distinct")
            let bounded = try await stores.anomalies.scores(
                ScoreQuery(tenantId: "t1", assetId: "r9", since: Self.t0.addingTimeInterval(10), until: Self.t0.addingTimeInterval(20), limit: 1000))
            #expect(bounded.count == 20, "\(backend): from <= t < to")

            // The tenant's sync: every row of every asset once, by id.
            var synced: [Int64] = []
            var afterId: Int64 = 0
            while true {
                let page = try await stores.anomalies.scores(tenantId: "t1", afterId: afterId, settledBefore: Date().addingTimeInterval(5), limit: 100)
                synced += page.compactMap(\.id)
                guard let last = page.last?.id else { break }
                afterId = last
            }
            #expect(synced.count == pattern.count + 1000 && synced == synced.sorted() && Set(synced).count == synced.count, "\(backend)")
            #expect(try await stores.anomalies.scores(tenantId: "t2", afterId: 0, settledBefore: Date().addingTimeInterval(5), limit: 100).isEmpty)
            #expect(
                try await stores.anomalies.scores(tenantId: "t1", afterId: 0, settledBefore: Date().addingTimeInterval(-3600), limit: 100).isEmpty
                    || backend == .memory, "\(backend): rows not yet settled wait")
        }
    }
}
