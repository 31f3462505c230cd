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
        buffer.writeInteger(UInt8(ascii: "\""))
        if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            buffer.writeBytes(bytes)
        } else {
            for c in bytes {
                switch c {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                case ..<0x20: buffer.writeString(String(format: "\\u%04x", c))
                default: buffer.writeInteger(c)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
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
        buffer.writeString(String(v))
    }

    /// Shortest representation that reads back as the same Float (what the booster produced).
    mutating func float(_ v: Float) {
        if v.isFinite { buffer.writeString(v.description) } else { raw("null") }
    }

    mutating func double(_ v: Double) {
        if v.isFinite { buffer.writeString(v.description) } else { raw("null") }
    }
}
