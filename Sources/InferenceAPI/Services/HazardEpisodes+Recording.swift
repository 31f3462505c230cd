import AnomalyDetection
import ComputeSupport
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Hazard episodes, off the request path: the drain that groups what `/predict` queued, holds it,
/// records it once per linger, and keeps the live modules and the filters current.
extension HazardEpisodes {
    func run() async throws {
        let refresh = settings.refreshSeconds
        let wake = self.wake
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // The live set is re-read even when nothing is queued, so another replica's
                // episodes reach this replica's filter.
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: .seconds(refresh)) } catch { return }
                        wake.yield()
                    }
                }
                let clock = ContinuousClock()
                let linger = Duration.milliseconds(self.settings.lingerMilliseconds)
                let halfFull = self.settings.queueReadings / 2
                for await _ in self.wakeups {
                    // Readings that keep coming are recorded together, not one drain each; a
                    // queue half full is grouped at once (and recorded when due).
                    let due = self.state.withLock { $0.lastRecorded.map { $0 + linger } } ?? clock.now
                    while clock.now < due, !Task.isCancelled, self.state.withLock({ $0.queuedReadings < halfFull }) {
                        try? await Task.sleep(until: min(due, clock.now + .milliseconds(50)), clock: clock)
                    }
                    // A graceful shutdown cancels this loop. The drain under way is not cancelled
                    // with it: it finishes the batch in hand (else that batch was lost mid-commit),
                    // takes no other and retries nothing, and is cancelled only if that takes
                    // longer than `finishSeconds` (a store that does not answer).
                    let current = Task { await self.drain(retrying: true) }
                    let finish = self.settings.finishSeconds
                    await withTaskCancellationHandler {
                        await current.value
                    } onCancel: {
                        self.state.withLock { $0.stopping = true }
                        Task {
                            try? await Task.sleep(for: .seconds(finish))
                            current.cancel()
                        }
                    }
                    if Task.isCancelled { break }
                    // Grouped readings not yet due: come back for them when they are.
                    if self.state.withLock({ $0.heldReadings > 0 }) { wake.yield() }
                }
                group.cancelAll()
            }
        }
        // On the way out, one attempt at what is still queued, for at most `finishSeconds`: a store
        // that does not answer by then loses it (bookkeeping only). Past the shutdown's grace the
        // service group cancels this task: the attempt ends then too (sleeping would not wait:
        // a cancelled task's sleep returns at once, and this loop spun until `finishSeconds`).
        state.withLock { $0.stopping = false }
        let last = Task { await self.drain(retrying: false) }
        let clock = ContinuousClock()
        let until = clock.now + .seconds(settings.finishSeconds)
        while clock.now < until, !Task.isCancelled, state.withLock({ !$0.queue.isEmpty || $0.heldReadings > 0 || $0.draining }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        last.cancel()
        wake.finish()
    }

    /// Groups what is queued when it starts, oldest first, and records the grouped readings when
    /// they are due (`lingerMilliseconds` after the last recording), when they reach
    /// `batchReadings`, and always when `retrying` is false (the last drain) or the service is
    /// stopping. What arrives meanwhile waits for the next drain. While the store fails, the
    /// grouped readings are retried with a growing pause (`retrying`), so nothing is reordered or
    /// skipped.
    func drain(retrying: Bool) async {
        let upTo = state.withLock { state in
            state.draining = true
            return state.sequence
        }
        defer { state.withLock { $0.draining = false } }
        await refreshIfDue()
        let linger = Duration.milliseconds(settings.lingerMilliseconds)
        while true {
            // Grouping is CPU work in one stretch: it leaves the event loop by the one rule.
            let queued = min(state.withLock { $0.queuedReadings }, settings.batchReadings)
            let more = (try? await Offload.run(.groupReadings(queued)) { self.takeBatch(upTo: upTo) }) ?? takeBatch(upTo: upTo)
            let (held, stopping, due) = state.withLock { state in
                (state.heldReadings, state.stopping, state.lastRecorded.map { ContinuousClock.now >= $0 + linger } ?? true)
            }
            guard held > 0 else {
                if more { continue } else { return }
            }
            if held >= settings.batchReadings || (!more && (due || stopping || !retrying)) {
                guard await recordHeld(retrying: retrying) else { return }
                if state.withLock({ $0.stopping }) { return }
            }
            if !more { return }
        }
    }

    /// Records the grouped readings, retrying while the store fails if `retrying`; false when
    /// they could not be recorded (they stay held).
    private func recordHeld(retrying: Bool) async -> Bool {
        let (batch, through) = state.withLock { ($0.held, $0.heldThrough) }
        var pause = Duration.milliseconds(250)
        while true {
            do {
                try await record(batch, through: through)
                state.withLock { state in
                    state.held = [:]
                    state.heldReadings = 0
                    state.lastRecorded = .now
                    Self.rebuildFilters(&state)
                }
                return true
            } catch {
                state.withLock { $0.lastRecorded = .now }
                if Task.isCancelled { return false }
                failed(error, doing: "recording")
                guard retrying, !state.withLock({ $0.stopping }) else { return false }
                do { try await Task.sleep(for: pause) } catch { return false }
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    /// Takes the oldest queued requests up to sequence `upTo`, at most `batchReadings` readings
    /// (at least one request), and adds the readings that matter (`choose`) to the held
    /// readings, per tenant and module, in the order they were queued. False when nothing was
    /// queued up to `upTo`.
    private func takeBatch(upTo: UInt64) -> Bool {
        // Taken under the lock, grouped outside it: requests queueing meanwhile do not wait. The
        // held readings move out while they grow and back after (swapped, so never copied).
        var pending: [Pending] = []
        var live: [String: Set<ModuleID>] = [:]
        var held: [String: [ModuleID: [EpisodeObservation]]] = [:]
        state.withLock { state in
            guard let first = state.queue.first, first.sequence <= upTo else { return }
            var count = 0
            var readings = 0
            while count < state.queue.count, state.queue[count].sequence <= upTo,
                count == 0 || readings + state.queue[count].readings <= settings.batchReadings
            {
                readings += state.queue[count].readings
                count += 1
            }
            pending = Array(state.queue[..<count])
            state.queue.removeFirst(count)
            state.queuedReadings -= readings
            live = state.live
            swap(&held, &state.held)
            // The taken requests' hazardous modules stay in the filter until they are held.
            for (_, filters) in state.filters {
                filters.known.formUnion(filters.fresh)
                filters.fresh.removeAll()
            }
        }
        guard let through = pending.last?.sequence else { return false }
        var byTenant: [String: [Pending]] = [:]
        for request in pending { byTenant[request.tenant, default: []].append(request) }
        pending = []
        var added = 0
        for (tenant, requests) in byTenant {
            added += Self.choose(requests, live: live[tenant] ?? [], into: &held[tenant, default: [:]])
        }
        live = [:]
        state.withLock { state in
            state.held = held
            state.heldReadings += added
            state.heldThrough = through
            Self.rebuildFilters(&state)
        }
        return true
    }

    /// Adds one tenant's readings that matter to `held`, by module, in the order they were
    /// queued; returns how many. A reading matters when its module is held already (it has
    /// readings waiting), live (a pending run or an open episode), or the reading is hazardous.
    /// A normal reading of any other module is left out: on a tracker with nothing pending it
    /// changes nothing (`EpisodeTracker.advance`). One pass, one hash per reading (two for a
    /// module seen for the first time), and each request's arrays read in place, not copied
    /// per reading.
    private static func choose(_ requests: [Pending], live: Set<ModuleID>, into held: inout [ModuleID: [EpisodeObservation]]) -> Int {
        var added = 0
        for request in requests {
            for index in 0..<request.readings {
                let module = request.moduleIds[index]
                let p = Double(request.probabilities[index])
                let hazardous = p >= request.threshold
                if let slot = held.index(forKey: module) {
                    held.values[slot].append(Self.observation(request, index, p, hazardous))
                } else if hazardous || live.contains(module) {
                    held[module] = [Self.observation(request, index, p, hazardous)]
                } else {
                    continue
                }
                added += 1
            }
        }
        return added
    }

    @inline(__always) private static func observation(_ request: borrowing Pending, _ index: Int, _ p: Double, _ hazardous: Bool) -> EpisodeObservation {
        EpisodeObservation(
            timestamp: request.timestamps?[index].flatMap(ISO8601.parse) ?? request.receivedAt, score: p, isAnomaly: hazardous,
            metric: "hazard_probability")
    }

    private func record(_ batch: [String: [ModuleID: [EpisodeObservation]]], through: UInt64) async throws {
        var changed = false
        for tenant in batch.keys.sorted() where !(batch[tenant]?.isEmpty ?? true) {
            let modules = batch[tenant] ?? [:]
            // The store names modules by `String`: one conversion per module and batch.
            var names: [(ModuleID, String)] = []
            names.reserveCapacity(modules.count)
            var observations: [String: [EpisodeObservation]] = [:]
            observations.reserveCapacity(modules.count)
            for (module, list) in modules {
                let name = module.string
                names.append((module, name))
                observations[name] = Self.inTimeOrder(list)
            }
            let recorded = try await store.recordEpisodes(tenantId: tenant, kind: Self.kind, observations: observations, policy: settings.policy)
            changed = changed || !recorded.events.isEmpty
            state.withLock { state in
                var live = state.live[tenant] ?? []
                for (module, name) in names {
                    if recorded.live.contains(name) { live.insert(module) } else { live.remove(module) }
                }
                state.live[tenant] = live.isEmpty ? nil : live
            }
        }
        if state.withLock({ $0.failure.take() }) != nil {
            logger.notice("hazard episodes: recording resumed", metadata: ["queued_readings": "\(status.queuedReadings)"])
        }
        if changed, settings.policy.outbox { onChanges?() }
    }

    /// Notes why the store failed; logged once per outage, not once per retry.
    private func failed(_ error: any Error, doing what: String) {
        let first = state.withLock { state in
            defer { state.failure = "\(error)" }
            return state.failure == nil
        }
        if first {
            logger.warning("hazard episodes: \(what) failed; /predict answers on, the queue waits and is retried", metadata: ["error": "\(error)"])
        }
    }

    /// Each tenant's `known` filter from its live and held modules.
    private static func rebuildFilters(_ state: inout State) {
        for tenant in Set(state.filters.keys).union(state.live.keys).union(state.held.keys) {
            let known = state.filters[tenant]?.known ?? ModuleFilter()
            known.removeAll()
            known.insert(state.live[tenant] ?? [])
            if let held = state.held[tenant] { known.insert(held.keys) }
            if state.filters[tenant] == nil { state.filters[tenant] = (known, ModuleFilter()) }
        }
    }

    /// A module's readings by time (requests usually send them in order: then nothing moves).
    private static func inTimeOrder(_ observations: [EpisodeObservation]) -> [EpisodeObservation] {
        for k in observations.indices.dropFirst() where observations[k].timestamp < observations[k - 1].timestamp {
            return observations.sorted { $0.timestamp < $1.timestamp }
        }
        return observations
    }

    private func refreshIfDue() async {
        let now = Date()
        let due = state.withLock { state in state.loadedAt.map { now.timeIntervalSince($0) >= settings.refreshSeconds } ?? true }
        guard due else { return }
        // Called by the drain before it takes a batch: everything taken before has been recorded,
        // so the store's live trackers are the whole truth (this replica's and the others').
        do {
            let rows = try await store.liveTrackers(kind: Self.kind)
            var live: [String: Set<ModuleID>] = [:]
            for row in rows { live[row.tenantId, default: []].insert(ModuleID(row.assetId)) }
            state.withLock { state in
                state.live = live
                state.loadedAt = now
                Self.rebuildFilters(&state)
            }
        } catch {
            if !Task.isCancelled { failed(error, doing: "re-reading the live modules") }
        }
    }
}
