import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes a `/predict` body, `{"readings": [{<feature>: number, ..., "module_id"?, "timestamp"?}]}`,
/// straight into a row-major `Double` matrix in the model's feature order.
///
/// Why hand-written: Foundation's `JSONDecoder` builds a dictionary per reading, and at 1000
/// readings a request that is nearly all of the request's cost (see PERFORMANCE.md). This
/// decoder knows the feature names up front, writes numbers into their column as it reads them,
/// and still reports every problem with the reading index and field, so a dashboard developer can
/// act on the answer. Numbers convert exactly as Python's `json` does (correctly rounded).
///
/// Safe on any input: every read is bounds-checked, nesting is limited, and the reading count is
/// checked against the limit while parsing (413 before the rest of a huge body is looked at).
public struct ReadingsDecoder: Sendable {
    public enum MissingValues: Sendable {
        case reject
        /// Missing or null features become NaN (XGBoost's missing value).
        case nan
        case zero
    }

    /// Decoded readings.
    public struct Readings: Sendable {
        public var count: Int
        /// `count * featureCount` values, row-major, in feature order.
        public var values: [Double]
        /// Per reading, when any reading carried one.
        public var moduleIds: [String?]?
        public var timestamps: [String?]?
    }

    /// Why a body was refused.
    public enum Failure: Error, Sendable {
        /// Not JSON at all: message with the byte offset.
        case syntax(String)
        /// Well-formed JSON that breaks the contract: every problem found (capped).
        case invalid(String, [APIError.Detail])
        /// More readings than the limit.
        case tooMany(limit: Int)
    }

    public let featureNames: [String]
    public let maxReadings: Int
    public let missingValues: MissingValues
    /// Skip top-level keys other than `readings` instead of refusing them (files that carry
    /// more, like the fixture vectors, read by the CLI).
    public var ignoresOtherTopLevelKeys = false
    public static let maxDetails = 100

    /// Every feature name's bytes, back to back; `keyStart[c]..<keyStart[c + 1]` is column c's.
    private let keyPool: [UInt8]
    private let keyStart: [Int]
    private let index: [[UInt8]: Int]
    /// Open-addressing table from a key to its column: readings may list their keys in any order,
    /// and looking each up here costs no allocation (a dictionary keyed by `[UInt8]` needed one
    /// array per key, most of a big body's decoding time). A slot keeps the key's length and
    /// first and last 8 bytes, so names up to 16 bytes are settled without touching the name.
    private let slots: [Slot]
    private let slotShift: UInt64

    struct Slot: Sendable {
        var column: Int32 = -1
        var length: Int32 = 0
        var head: UInt64 = 0
        var tail: UInt64 = 0
    }

    public init(featureNames: [String], maxReadings: Int, missingValues: MissingValues = .reject) {
        self.featureNames = featureNames
        self.maxReadings = maxReadings
        self.missingValues = missingValues
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

    /// Decodes `body`. - Throws: `Failure`.
    public func decode(_ body: UnsafeRawBufferPointer) throws(Failure) -> Readings {
        guard let base = body.baseAddress?.assumingMemoryBound(to: UInt8.self), body.count > 0 else {
            throw .syntax("the body is empty: send {\"readings\": [...]}")
        }
        var parser = Parser(decoder: self, bytes: base, end: body.count)
        return try parser.parseBody()
    }

    public func decode(_ body: [UInt8]) throws(Failure) -> Readings {
        let result: Result<Readings, Failure> = body.withUnsafeBytes { raw in
            do throws(Failure) { return .success(try decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The feature name closest to `key` (edit distance), if close enough to be a likely typo.
    func suggestion(for key: String) -> String? {
        let lowered = key.lowercased()
        var best: (String, Int)?
        for name in featureNames {
            let d = Self.editDistance(lowered, name.lowercased())
            if d < (best?.1 ?? Int.max) { best = (name, d) }
        }
        guard let best, best.1 <= max(2, key.count / 3) else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    // MARK: - The parser

    struct Parser {
        let decoder: ReadingsDecoder
        let bytes: UnsafePointer<UInt8>
        let end: Int
        var i = 0
        var details: [APIError.Detail] = []
        var omittedDetails = 0
        static let moduleIdKey = Array("module_id".utf8)
        static let timestampKey = Array("timestamp".utf8)
        var scratch = [CChar](repeating: 0, count: 64)

        init(decoder: ReadingsDecoder, bytes: UnsafePointer<UInt8>, end: Int) {
            self.decoder = decoder
            self.bytes = bytes
            self.end = end
        }

        mutating func parseBody() throws(Failure) -> Readings {
            skipSpace()
            guard peek() == UInt8(ascii: "{") else {
                throw .invalid("the body must be a JSON object: {\"readings\": [...]}", [])
            }
            i += 1
            var readings: Readings?
            var sawReadings = false
            skipSpace()
            if peek() != UInt8(ascii: "}") {
                while true {
                    skipSpace()
                    let key = try parseKey()
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    skipSpace()
                    if key == Array("readings".utf8) {
                        sawReadings = true
                        if peek() == UInt8(ascii: "[") {
                            readings = try parseReadings()
                        } else {
                            let kind = try skipValue()
                            addDetail(field: "readings", problem: "must be a list of readings, got \(kind)")
                        }
                    } else {
                        _ = try skipValue()
                        if !decoder.ignoresOtherTopLevelKeys {
                            let name = String(decoding: key, as: UTF8.self)
                            addDetail(field: name, problem: "unknown key: the body has one key, 'readings'")
                        }
                    }
                    skipSpace()
                    if peek() == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    break
                }
            } else {
                i += 1
            }
            skipSpace()
            guard i == end else { throw .syntax("unexpected data after the JSON object at byte \(i)") }
            if !sawReadings {
                addDetail(field: "readings", problem: "is required: send {\"readings\": [{...}, ...]}")
            }
            if let readings, readings.count == 0, details.isEmpty {
                throw .invalid("readings must not be empty", [APIError.Detail(field: "readings", problem: "must contain at least one reading")])
            }
            guard details.isEmpty, let readings else { throw failure() }
            return readings
        }

        private func failure() -> Failure {
            var list = details
            if omittedDetails > 0 {
                list.append(APIError.Detail(problem: "\(omittedDetails) more problems not listed"))
            }
            let total = details.count + omittedDetails
            return .invalid("\(total) problem\(total == 1 ? "" : "s") in the request", list)
        }

        mutating func addDetail(index: Int? = nil, field: String? = nil, problem: String, suggestion: String? = nil) {
            if details.count < ReadingsDecoder.maxDetails {
                details.append(APIError.Detail(index: index, field: field, problem: problem, suggestion: suggestion))
            } else {
                omittedDetails += 1
            }
        }

        private mutating func parseReadings() throws(Failure) -> Readings {
            let width = decoder.featureNames.count
            i += 1  // [
            var out = Readings(count: 0, values: [], moduleIds: nil, timestamps: nil)
            out.values.reserveCapacity(min(decoder.maxReadings, max(1, (end - i) / max(1, width * 12))) * width)
            var moduleIds: [String?] = []
            var timestamps: [String?] = []
            var anyModule = false, anyTimestamp = false
            skipSpace()
            if peek() == UInt8(ascii: "]") {
                i += 1
                return out
            }
            // One reading is parsed into `row`, then appended: plain memory in the per-key loop, not
            // an array's uniqueness and bounds checks per value. `seen[f] == row + 1` when feature f
            // was set in the current reading.
            let row = UnsafeMutablePointer<Double>.allocate(capacity: max(1, width))
            let seen = UnsafeMutablePointer<Int>.allocate(capacity: max(1, width))
            seen.initialize(repeating: 0, count: max(1, width))
            defer {
                row.deallocate()
                seen.deallocate()
            }
            while true {
                let index = out.count
                if index >= decoder.maxReadings { throw .tooMany(limit: decoder.maxReadings) }
                out.count += 1
                row.update(repeating: .nan, count: width)
                moduleIds.append(nil)
                timestamps.append(nil)
                skipSpace()
                if peek() == UInt8(ascii: "{") {
                    var module: String?
                    var timestamp: String?
                    try parseReading(index: index, width: width, row: row, seen: seen, module: &module, timestamp: &timestamp)
                    if let module { moduleIds[index] = module; anyModule = true }
                    if let timestamp { timestamps[index] = timestamp; anyTimestamp = true }
                } else {
                    let kind = try skipValue()
                    addDetail(index: index, problem: "each reading must be an object of feature values, got \(kind)")
                }
                out.values.append(contentsOf: UnsafeBufferPointer(start: row, count: width))
                skipSpace()
                if peek() == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "]"))
                break
            }
            if anyModule { out.moduleIds = moduleIds }
            if anyTimestamp { out.timestamps = timestamps }
            return out
        }

        private mutating func parseReading(
            index row: Int, width: Int, row values: UnsafeMutablePointer<Double>, seen: UnsafeMutablePointer<Int>,
            module: inout String?, timestamp: inout String?
        ) throws(Failure) {
            i += 1  // {
            let stamp = row + 1
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    let (keyStart, keyLength, escaped) = try scanString()
                    let column = escaped
                        ? decoder.index[unescape(keyStart, keyLength)] ?? -1
                        : decoder.column(of: bytes + keyStart, length: keyLength) ?? -1
                    if column < 0 {
                        skipSpace()
                        try expect(UInt8(ascii: ":"))
                        skipSpace()
                        try parseExtra(keyStart: keyStart, keyLength: keyLength, escaped: escaped, row: row, module: &module, timestamp: &timestamp)
                        skipSpace()
                        if peek() == UInt8(ascii: ",") { i += 1; continue }
                        try expect(UInt8(ascii: "}"))
                        break
                    }
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    skipSpace()
                    if seen[column] == stamp {
                        addDetail(index: row, field: decoder.featureNames[column], problem: "appears twice in this reading")
                    }
                    seen[column] = stamp
                    // The common case inline: a number (not -Infinity).
                    if let c = peek(), c &- UInt8(ascii: "0") <= 9 || (c == UInt8(ascii: "-") && peekAt(1) != UInt8(ascii: "I")) {
                        let value = try parseNumber()
                        if value.isFinite {
                            values[column] = value
                        } else {
                            addDetail(index: row, field: decoder.featureNames[column], problem: "is out of range for a double")
                        }
                    } else {
                        try parseFeatureValue(row: row, column: column, into: &values[column])
                    }
                    skipSpace()
                    if peek() == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    break
                }
            }
            for column in 0..<width where seen[column] != stamp {
                switch decoder.missingValues {
                case .reject:
                    addDetail(index: row, field: decoder.featureNames[column], problem: "is missing")
                case .nan: values[column] = .nan
                case .zero: values[column] = 0
                }
            }
        }

        private mutating func parseFeatureValue(row: Int, column: Int, into slot: inout Double) throws(Failure) {
            guard let c = peek() else { throw .syntax("unexpected end of the body") }
            if c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                if c == UInt8(ascii: "-"), peekAt(1) == UInt8(ascii: "I") {
                    try literal("-Infinity")
                    addDetail(index: row, field: decoder.featureNames[column], problem: "must be a finite number, got -Infinity")
                    return
                }
                let value = try parseNumber()
                if value.isFinite {
                    slot = value
                } else {
                    addDetail(index: row, field: decoder.featureNames[column], problem: "is out of range for a double")
                }
                return
            }
            if c == UInt8(ascii: "n") {
                try literal("null")
                switch decoder.missingValues {
                case .reject:
                    addDetail(index: row, field: decoder.featureNames[column], problem: "is null (MISSING_VALUES=reject)")
                case .nan: slot = .nan
                case .zero: slot = 0
                }
                return
            }
            if c == UInt8(ascii: "N") || c == UInt8(ascii: "I") {
                let word = c == UInt8(ascii: "N") ? "NaN" : "Infinity"
                try literal(word)
                addDetail(index: row, field: decoder.featureNames[column], problem: "must be a finite number, got \(word)")
                return
            }
            let kind = try skipValue()
            addDetail(index: row, field: decoder.featureNames[column], problem: "must be a number, got \(kind)")
        }

        /// `module_id`, `timestamp`, or an unknown key. The two known keys are recognised from their
        /// bytes: they ride on most readings, and making a `String` of each key cost as much as
        /// the reading's 30 numbers.
        private mutating func parseExtra(
            keyStart: Int, keyLength: Int, escaped: Bool, row: Int, module: inout String?, timestamp: inout String?
        ) throws(Failure) {
            let name: String
            if !escaped, equal(keyStart, keyLength, Self.moduleIdKey) {
                name = "module_id"
            } else if !escaped, equal(keyStart, keyLength, Self.timestampKey) {
                name = "timestamp"
            } else {
                let key = escaped ? unescape(keyStart, keyLength) : Array(UnsafeBufferPointer(start: bytes + keyStart, count: keyLength))
                name = String(decoding: key, as: UTF8.self)
            }
            if name == "module_id" || name == "timestamp" {
                if peek() == UInt8(ascii: "\"") {
                    let (start, length, escaped) = try scanString()
                    let text = escaped
                        ? String(decoding: unescape(start, length), as: UTF8.self)
                        : String(decoding: UnsafeBufferPointer(start: bytes + start, count: length), as: UTF8.self)
                    if name == "module_id" { module = text } else { timestamp = text }
                } else if peek() == UInt8(ascii: "n") {
                    try literal("null")
                } else {
                    let kind = try skipValue()
                    addDetail(index: row, field: name, problem: "must be a string, got \(kind)")
                }
                return
            }
            _ = try skipValue()
            addDetail(
                index: row, field: name, problem: "unknown key: not a feature of the served model",
                suggestion: decoder.suggestion(for: name))
        }

    }
}
