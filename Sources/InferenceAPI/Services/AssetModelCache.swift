import AnomalyDetection
import Storage
import Synchronization

#if canImport(CMalloc)
import CMalloc
#endif

/// Decoded anomaly models per asset, so `/anomaly/detect` decodes a forest once per trained model,
/// not once per request. Bounded by a byte budget (`ANOMALY_MODEL_CACHE_BYTES`): the least
/// recently used asset goes first. An asset with no model is remembered too (no query per detect).
///
/// Invalidated per asset when a model is trained here, when another replica announces one
/// (`FleetEvent.assetModelChanged`), and wholly when the announcement channel was re-subscribed
/// (anything may have been missed). A lookup that raced an invalidation is not stored
/// (`generation`), so a stale read never outlives the announcement.
///
/// Hand-written: none of the packages this project may use has an LRU map; the recency order is a
/// counter per entry and eviction scans for the oldest, which is cheap beside decoding a forest.
final class AssetModelCache: Sendable {
    struct Key: Hashable, Sendable {
        let tenantId: String
        let assetId: String
    }

    /// An asset's active model, decoded; `model` nil when the asset has none.
    struct Entry: Sendable {
        let record: ModelRecord?
        let model: AssetModel?
        let parameters: AnomalyService.StoredParameters?
        /// What the entry is charged against the budget: the decoded forest's arrays
        /// (`IsolationForest.memoryBytes`) plus a quarter of the artifact for the calibration and
        /// the rest, or a nominal amount for "no model".
        let bytes: Int
    }

    private struct State {
        var entries: [Key: (entry: Entry, used: UInt64)] = [:]
        var bytes = 0
        var tick: UInt64 = 0
        var generation: UInt64 = 0
        /// Bytes evicted since memory was last handed back to the system (`trimAfterBytes`).
        var evictedSinceTrim = 0
    }

    let budgetBytes: Int
    private let state = Mutex(State())
    private let telemetry: Telemetry?
    static let emptyEntryBytes = 256
    /// Evicted bytes after which freed memory is returned to the system: glibc keeps what a
    /// decoded forest freed in its arenas, and 10,000 assets through a 16 MiB cache left RSS
    /// 11 MiB over "budget + idle" (BENCHMARKS.md). An eighth of the budget, at least 1 MiB,
    /// so a churning cache trims a few times per budget's worth of evictions, not per eviction.
    var trimAfterBytes: Int { max(budgetBytes / 8, 1 << 20) }

    init(budgetBytes: Int, telemetry: Telemetry?) {
        self.budgetBytes = budgetBytes
        self.telemetry = telemetry
    }

    /// The cached entry, counted as a hit or a miss.
    func lookup(_ key: Key) -> Entry? {
        let found = state.withLock { state -> Entry? in
            guard let found = state.entries[key] else { return nil }
            state.tick += 1
            state.entries[key] = (found.entry, state.tick)
            return found.entry
        }
        telemetry?.assetModelCache(hit: found != nil)
        return found
    }

    /// Read before going to the store; `insert` stores only if nothing was invalidated since.
    var generation: UInt64 { state.withLock { $0.generation } }

    func insert(_ entry: Entry, for key: Key, readAt generation: UInt64) {
        let usage = state.withLock { state -> (bytes: Int, entries: Int, trim: Bool)? in
            guard state.generation == generation, entry.bytes <= budgetBytes else { return nil }
            if let old = state.entries[key] { state.bytes -= old.entry.bytes }
            state.tick += 1
            state.entries[key] = (entry, state.tick)
            state.bytes += entry.bytes
            while state.bytes > budgetBytes, let oldest = state.entries.min(by: { $0.value.used < $1.value.used }) {
                state.entries[oldest.key] = nil
                state.bytes -= oldest.value.entry.bytes
                state.evictedSinceTrim += oldest.value.entry.bytes
            }
            let trim = state.evictedSinceTrim >= trimAfterBytes
            if trim { state.evictedSinceTrim = 0 }
            return (state.bytes, state.entries.count, trim)
        }
        guard let usage else { return }
        telemetry?.assetModelCache(bytes: usage.bytes, entries: usage.entries)
        if usage.trim { Self.returnFreedMemory() }
    }

    /// `malloc_trim(0)` on the blocking pool (nobody waits for it; it walks the heap, which may
    /// take a millisecond), so glibc gives evicted forests' pages back. Not on the SCHED_IDLE
    /// background thread: malloc_trim holds each arena's lock while it trims it, and a thread that
    /// gets no CPU under load would hold it for as long as the load lasts, every malloc of the
    /// process waiting behind it (a saturated make test stalled for minutes that way).
    static func returnFreedMemory() {
        #if canImport(CMalloc)
        Task { _ = try? await Offload.run(.blocking) { malloc_trim(0) } }
        #endif
    }

    /// Forgets one asset's entry, or every entry when `assetId` is nil.
    func invalidate(tenantId: String, assetId: String?) {
        let usage = state.withLock { state -> (bytes: Int, entries: Int) in
            state.generation += 1
            if let assetId {
                if let old = state.entries.removeValue(forKey: Key(tenantId: tenantId, assetId: assetId)) { state.bytes -= old.entry.bytes }
            } else {
                state.entries.removeAll()
                state.bytes = 0
            }
            return (state.bytes, state.entries.count)
        }
        telemetry?.assetModelCache(bytes: usage.bytes, entries: usage.entries)
    }

    var usage: (bytes: Int, entries: Int) { state.withLock { ($0.bytes, $0.entries.count) } }
}
