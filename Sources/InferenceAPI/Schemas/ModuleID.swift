/// A battery module's id (`module_id` of a `/predict` reading), as the body spelled it.
///
/// Why not `String`: hazard episodes look every reading's module up on `/predict` (is it live?),
/// queue it, and group it off the request path. As `String`s, ids longer than 15 bytes (like
/// "rack-12/module-345") are heap objects: at 1,000 readings a request that was an allocation, a
/// dozen reference-count operations and `memcmp`-based hashing per reading, the largest part of
/// what `module_id` cost the hot path (perf, BENCHMARKS.md). An id of up to 31 bytes is kept
/// inline here as four words: no allocation, no reference counting, hashed and compared as words.
/// A longer id keeps a `String`. Either way the bytes are valid UTF-8 (invalid input is repaired
/// as `String(decoding:)` does).
public enum ModuleID: Hashable, Sendable, CustomStringConvertible {
    /// Bytes 0..<31, little-endian across the words; the last byte of `w3` is the length.
    case inline(UInt64, UInt64, UInt64, UInt64)
    case long(String)

    static let inlineCapacity = 31

    public init(_ text: String) {
        var text = text
        self = text.withUTF8 { Self(validUTF8: $0) }
    }

    /// From UTF-8 bytes as they came (repaired if invalid).
    init(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        if bytes.allSatisfy({ $0 < 0x80 }) {
            self.init(validUTF8: bytes)
        } else {
            self.init(String(decoding: bytes, as: UTF8.self))
        }
    }

    private init(validUTF8 bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count <= Self.inlineCapacity else {
            self = .long(String(decoding: bytes, as: UTF8.self))
            return
        }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(bytes))
            raw[31] = UInt8(bytes.count)
        }
        self = .inline(words.0, words.1, words.2, words.3)
    }

    /// The id's UTF-8 bytes, for as long as `body` runs.
    func withUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch self {
        case .inline(let a, let b, let c, let d):
            var words = (a, b, c, d)
            return try withUnsafeBytes(of: &words) { raw in
                try body(UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: Int(raw[31])))
            }
        case .long(var text):
            return try text.withUTF8(body)
        }
    }

    /// The id's length in UTF-8 bytes.
    var utf8Count: Int {
        switch self {
        case .inline(_, _, _, let d): Int(d >> 56)
        case .long(let text): text.utf8.count
        }
    }

    public var string: String {
        switch self {
        case .inline: withUTF8 { String(decoding: $0, as: UTF8.self) }
        case .long(let text): text
        }
    }

    public var description: String { string }
}

extension ModuleID: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(value) }
}

extension JSONWriter {
    mutating func string(_ module: ModuleID) {
        module.withUTF8 { string(utf8: $0) }
    }
}
