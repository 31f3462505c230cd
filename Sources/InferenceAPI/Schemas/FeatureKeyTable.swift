/// From a feature name's bytes in a request body to its column, with no allocation: readings may
/// list their keys in any order, and a dictionary keyed by `[UInt8]` needed one array per key,
/// most of a big body's decoding time. Written by hand for `ReadingsDecoder`'s hot loop.
struct FeatureKeyTable: Sendable {
    /// Every feature name's bytes, back to back; `keyStart[c]..<keyStart[c + 1]` is column c's.
    private let keyPool: [UInt8]
    private let keyStart: [Int]
    private let index: [[UInt8]: Int]
    /// Open addressing: a slot keeps the key's length and first and last 8 bytes, so names up to
    /// 16 bytes are settled without touching the name.
    private let slots: [Slot]
    private let slotShift: UInt64

    struct Slot: Sendable {
        var column: Int32 = -1
        var length: Int32 = 0
        var head: UInt64 = 0
        var tail: UInt64 = 0
    }

    init(_ featureNames: [String]) {
        let keys = featureNames.map { Array($0.utf8) }
        self.keyPool = keys.flatMap { $0 }
        var starts = [0]
        for key in keys { starts.append(starts.last! + key.count) }
        self.keyStart = starts
        self.index = Dictionary(keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var bits: UInt64 = 3
        while (1 << bits) < featureNames.count * 4 { bits += 1 }
        let shift = 64 - bits
        var slots = [Slot](repeating: Slot(), count: 1 << Int(bits))
        for (column, key) in keys.enumerated() where self.index[key] == column {
            key.withUnsafeBufferPointer { p in
                let (hash, head, tail) = Self.hash(p.baseAddress ?? UnsafePointer(bitPattern: 1)!, p.count)
                var slot = Int(truncatingIfNeeded: hash &>> shift)
                while slots[slot].column >= 0 { slot = (slot + 1) & (slots.count - 1) }
                slots[slot] = Slot(column: Int32(column), length: Int32(p.count), head: head, tail: tail)
            }
        }
        self.slots = slots
        self.slotShift = shift
    }

    /// A key's hash (Fibonacci hashing of its length and first and last 8 bytes: two loads,
    /// not a multiply per byte) and those first (zero-padded) and last 8 bytes. `count` bytes
    /// at `p` must be readable.
    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> (UInt64, UInt64, UInt64) {
        var head: UInt64 = 0
        var tail: UInt64 = 0
        if count >= 8 {
            head = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
            tail = UnsafeRawPointer(p).loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        } else {
            for k in 0..<count { head |= UInt64(p[k]) << (8 * UInt64(k)) }
        }
        let mixed = head ^ (tail << 23 | tail >> 41) ^ UInt64(truncatingIfNeeded: count)
        return (mixed &* 0x9E37_79B9_7F4A_7C15, head, tail)
    }

    /// Whether bytes 8..<length-8 of `key` equal column `column`'s name (same length, and the
    /// first and last 8 bytes already compared), a word at a time.
    @inline(__always) func middleMatches(_ column: Int, _ key: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        let start = keyStart[column]
        return keyPool.withUnsafeBufferPointer { pool -> Bool in
            let name = UnsafeRawPointer(pool.baseAddress! + start)
            let key = UnsafeRawPointer(key)
            var offset = 8
            while offset < length - 8 {
                if name.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != key.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                    return false
                }
                offset += 8
            }
            return true
        }
    }

    /// The column of the feature whose name is these bytes, or nil.
    @inline(__always) func column(of key: UnsafePointer<UInt8>, length: Int) -> Int? {
        let (hash, head, tail) = Self.hash(key, length)
        return slots.withUnsafeBufferPointer { slots -> Int? in
            var slot = Int(truncatingIfNeeded: hash &>> slotShift)
            while true {
                let entry = slots[slot]
                if entry.column < 0 { return nil }
                if entry.head == head, entry.tail == tail, Int(entry.length) == length,
                    length <= 16 || middleMatches(Int(entry.column), key, length)
                {
                    return Int(entry.column)
                }
                slot = (slot + 1) & (slots.count - 1)
            }
        }
    }

    /// The column of an (unescaped) name, or nil: the slow path, for keys written with escapes.
    func column(named key: [UInt8]) -> Int? {
        index[key]
    }
}
