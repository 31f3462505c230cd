/// Where a canary reading goes: a stable hash of its `module_id` picks one of 100 buckets, and
/// buckets below `percent` are the challenger's. The hash depends on nothing but the id's bytes,
/// so every replica, every restart and every request route a module the same way, and raising
/// `percent` only moves modules to the challenger (none back).
enum ChallengerRouting {
    /// 0..<100 for `module`: FNV-1a over its UTF-8 bytes, then SplitMix64's finaliser so that ids
    /// differing only in their last characters ("m-1", "m-2") spread over the buckets.
    static func bucket(_ module: ModuleID) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in module.string.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return Int(hash % 100)
    }

    /// A request whose readings carry no module id: the challenger's with chance `percent`.
    static func drawsChallenger(percent: Int) -> Bool {
        percent > 0 && Int.random(in: 0..<100) < percent
    }
}
