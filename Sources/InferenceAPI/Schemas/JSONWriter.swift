import Foundation
import NIOCore

/// Writes JSON straight into a `ByteBuffer`, for answers on the hot path (`/predict`) where
/// building `Codable` values and encoding them would cost more than the prediction.
struct JSONWriter {
    var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func raw(_ s: StaticString) {
        buffer.writeStaticString(s)
    }

    /// A JSON string. The bytes are read in place (`withUTF8`: no per-character walk of the
    /// String's views): `/predict` writes two of these per reading, module and timestamp.
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(utf8: $0) }
    }

    mutating func string(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        reserving(Reserved.stringBound(bytes.count)) { $0.string(utf8: bytes) }
    }

    /// Runs `body` over `bound` bytes reserved at once: one capacity and uniqueness check for
    /// all its pieces. (Each `ByteBuffer` write checks both, with a dynamic exclusivity check:
    /// a `/predict` answer writes about ten pieces per reading, and at 1,000 readings those checks
    /// cost more than writing the bytes.) Every piece checks that it fits in `bound`, so a bound
    /// too small traps rather than writes past it: compute it from `Reserved`'s bounds.
    mutating func reserving(_ bound: Int, _ body: (inout Reserved) -> Void) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { raw in
            var out = Reserved(base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), capacity: bound)
            body(&out)
            return out.count
        }
    }

    /// Bytes reserved by `reserving`, written in order.
    struct Reserved: ~Copyable {
        let base: UnsafeMutablePointer<UInt8>
        let capacity: Int
        private(set) var count = 0

        init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
            self.base = base
            self.capacity = capacity
        }

        /// The most a JSON string of `utf8Count` bytes takes: each byte as `\u00XX`, and the quotes.
        static func stringBound(_ utf8Count: Int) -> Int { 6 * utf8Count + 2 }
        /// The most `int` takes ("-9223372036854775808").
        static let intBound = 20
        /// The most `float` takes (Float's shortest round-trip text is at most 15 bytes).
        static let floatBound = 32

        mutating func raw(_ s: StaticString) {
            let n = s.utf8CodeUnitCount
            precondition(count + n <= capacity, "JSONWriter.Reserved: bound too small")
            (base + count).update(from: s.utf8Start, count: n)
            count += n
        }

        mutating func string(utf8 bytes: UnsafeBufferPointer<UInt8>) {
            precondition(count + Self.stringBound(bytes.count) <= capacity, "JSONWriter.Reserved: bound too small")
            var at = count
            base[at] = UInt8(ascii: "\"")
            at += 1
            for c in bytes {
                if c >= 0x20, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") {
                    base[at] = c
                    at += 1
                    continue
                }
                base[at] = UInt8(ascii: "\\")
                switch c {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): base[at + 1] = c
                case 0x0A: base[at + 1] = UInt8(ascii: "n")
                case 0x0D: base[at + 1] = UInt8(ascii: "r")
                case 0x09: base[at + 1] = UInt8(ascii: "t")
                default:
                    let hex: StaticString = "0123456789abcdef"
                    base[at + 1] = UInt8(ascii: "u")
                    base[at + 2] = UInt8(ascii: "0")
                    base[at + 3] = UInt8(ascii: "0")
                    base[at + 4] = hex.utf8Start[Int(c >> 4)]
                    base[at + 5] = hex.utf8Start[Int(c & 0x0F)]
                    at += 4
                }
                at += 2
            }
            base[at] = UInt8(ascii: "\"")
            count = at + 1
        }

        mutating func string(_ module: ModuleID) {
            module.withUTF8 { string(utf8: $0) }
        }

        mutating func string(_ s: String) {
            var s = s
            s.withUTF8 { string(utf8: $0) }
        }

        mutating func int(_ v: Int) {
            precondition(count + Self.intBound <= capacity, "JSONWriter.Reserved: bound too small")
            var magnitude = v.magnitude
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, filled from the end
            let length = withUnsafeMutableBytes(of: &digits) { raw -> Int in
                var i = raw.count
                repeat {
                    i -= 1
                    raw[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                    magnitude /= 10
                } while magnitude > 0
                if v < 0 {
                    i -= 1
                    raw[i] = UInt8(ascii: "-")
                }
                (base + count).update(from: raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + i, count: raw.count - i)
                return raw.count - i
            }
            count += length
        }

        /// Shortest representation that reads back as the same Float (what the booster produced).
        mutating func float(_ v: Float) {
            guard v.isFinite else { return raw("null") }
            var text = v.description
            text.withUTF8 { bytes in
                precondition(bytes.count <= Self.floatBound && count + bytes.count <= capacity, "JSONWriter.Reserved: bound too small")
                (base + count).update(from: bytes.baseAddress!, count: bytes.count)
                count += bytes.count
            }
        }
    }

    /// `{"key":"value",...}` with the keys sorted, as text. (JSONSerialization's `sortedKeys`
    /// compares keys through ICU, whose locale data the service otherwise never loads: 4.5 MB
    /// resident for a log line.)
    static func sortedObject(_ fields: [String: String]) -> String {
        var json = JSONWriter(capacity: 256)
        json.raw("{")
        for (index, key) in fields.keys.sorted().enumerated() {
            if index > 0 { json.raw(",") }
            json.string(key)
            json.raw(":")
            json.string(fields[key] ?? "")
        }
        json.raw("}")
        return String(buffer: json.buffer)
    }

    mutating func optionalString(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    mutating func int(_ v: Int) {
        reserving(Reserved.intBound) { $0.int(v) }
    }

    /// Shortest representation that reads back as the same Float (what the booster produced).
    mutating func float(_ v: Float) {
        reserving(Reserved.floatBound) { $0.float(v) }
    }

    mutating func double(_ v: Double) {
        if v.isFinite { buffer.writeString(v.description) } else { raw("null") }
    }
}
