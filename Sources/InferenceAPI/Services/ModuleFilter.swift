/// A set of module ids that may answer "maybe" for an id it does not hold, never "no" for one it
/// holds (one hash, 65,536 bits): what `/predict` asks per reading, under a lock, to leave out the
/// readings of modules hazard-episode bookkeeping has no use for, for a few nanoseconds a reading.
/// A "maybe" only queues a reading the drain then drops; a saturated filter (tens of thousands of
/// live modules, or ids chosen to collide) costs the drain work, never an episode.
///
/// Why hand-written: the standard library's `Set` hashes with SipHash and compares the ids, about
/// ten times the cost, and no package this service may use offers a filter.
final class ModuleFilter: @unchecked Sendable {
    static let bits = 1 << 16
    private let words: UnsafeMutablePointer<UInt64>
    private static let wordCount = bits / 64

    init() {
        words = .allocate(capacity: Self.wordCount)
        words.initialize(repeating: 0, count: Self.wordCount)
    }

    deinit { words.deallocate() }

    /// A position for `module` (the same one for equal ids), mixed with a per-process seed.
    @inline(__always) static func position(_ module: ModuleID) -> Int {
        let mixed: UInt64
        switch module {
        case .inline(let a, let b, let c, let d):
            mixed = (a ^ seed) &* 0x9E37_79B9_7F4A_7C15 ^ (b &* 0xC2B2_AE3D_27D4_EB4F) ^ (c &* 0x1656_67B1_9E37_79F9) ^ (d &* 0x85EB_CA77_C2B2_AE63)
        case .long(let text):
            mixed = UInt64(bitPattern: Int64(text.hashValue))
        }
        return Int(truncatingIfNeeded: ((mixed ^ (mixed >> 29)) &* 0xBF58_476D_1CE4_E5B9) >> 48)
    }

    private static let seed = UInt64.random(in: 0...UInt64.max)

    @inline(__always) func contains(_ position: Int) -> Bool { words[position >> 6] & (1 << UInt64(position & 63)) != 0 }

    @inline(__always) func insert(_ position: Int) { words[position >> 6] |= 1 << UInt64(position & 63) }

    func insert(_ modules: some Sequence<ModuleID>) {
        for module in modules { insert(Self.position(module)) }
    }

    func formUnion(_ other: ModuleFilter) {
        for k in 0..<Self.wordCount { words[k] |= other.words[k] }
    }

    func removeAll() { words.update(repeating: 0, count: Self.wordCount) }
}
