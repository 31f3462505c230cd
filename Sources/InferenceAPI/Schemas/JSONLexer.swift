import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON syntax error, with the byte offset in its message.
struct JSONSyntaxError: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The JSON lexing under both fast body parsers (`/predict` readings, `/anomaly/detect`
/// samples): whitespace, strings (with escapes), numbers with correct rounding, literals, and
/// skipping any value with a nesting limit. Every read is bounds-checked against `end`.
///
/// Hand-written because the parsers above it read values straight into their destination as
/// they go (see `ReadingsDecoder`); Foundation's parsers build a tree first.
struct JSONLexer {
    let bytes: UnsafePointer<UInt8>
    let end: Int
    var i = 0
    /// strtod's NUL-terminated copy of a number that needs the slow path.
    private var scratch = [CChar](repeating: 0, count: 64)

    /// - Parameters: `bytes` must stay valid for the lexer's lifetime (the caller's
    ///   `withUnsafeBytes` scope).
    init(bytes: UnsafePointer<UInt8>, end: Int) {
        self.bytes = bytes
        self.end = end
    }

    @inline(__always) func peek() -> UInt8? { i < end ? bytes[i] : nil }
    @inline(__always) func peekAt(_ k: Int) -> UInt8? { i + k < end ? bytes[i + k] : nil }

    @inline(__always) mutating func skipSpace() {
        while i < end {
            let c = bytes[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    @inline(__always) mutating func expect(_ c: UInt8) throws(JSONSyntaxError) {
        guard i < end, bytes[i] == c else { throw unexpected(c) }
        i += 1
    }

    /// Kept out of line so the checks above inline into the parse loops without the messages.
    @inline(never) func unexpected(_ c: UInt8) -> JSONSyntaxError {
        guard i < end else { return JSONSyntaxError("unexpected end of the body, expected '\(Character(UnicodeScalar(c)))'") }
        return JSONSyntaxError("expected '\(Character(UnicodeScalar(c)))' at byte \(i), found '\(Self.printable(bytes[i]))'")
    }

    mutating func literal(_ word: String) throws(JSONSyntaxError) {
        let n = word.utf8.count
        var k = 0
        for c in word.utf8 {
            guard i + k < end, bytes[i + k] == c else { throw JSONSyntaxError("invalid literal at byte \(i)") }
            k += 1
        }
        i += n
    }

    func equal(_ start: Int, _ length: Int, _ key: [UInt8]) -> Bool {
        guard length == key.count else { return false }
        return key.withUnsafeBufferPointer { memcmp(bytes + start, $0.baseAddress!, length) == 0 }
    }

    mutating func parseKey() throws(JSONSyntaxError) -> [UInt8] {
        guard peek() == UInt8(ascii: "\"") else {
            throw JSONSyntaxError("expected a key string at byte \(i)")
        }
        let (start, length, escaped) = try scanString()
        return keyBytes(start, length, escaped)
    }

    /// A scanned key's bytes, unescaped when it holds escapes.
    func keyBytes(_ start: Int, _ length: Int, _ escaped: Bool) -> [UInt8] {
        escaped ? unescape(start, length) : Array(UnsafeBufferPointer(start: bytes + start, count: length))
    }

    /// Scans a string starting at `"`; returns the raw content range and whether it has escapes.
    /// Plain bytes are skipped 8 at a time (keys are most of a /predict body's bytes).
    @inline(__always) mutating func scanString() throws(JSONSyntaxError) -> (Int, Int, Bool) {
        guard peek() == UInt8(ascii: "\"") else { throw Self.syntaxFailure("expected a string at byte", i) }
        let start = i + 1
        var k = start
        var escaped = false
        while true {
            while k &+ 8 <= end {
                let special = Self.specialBytes(UInt64(littleEndian: UnsafeRawPointer(bytes + k).loadUnaligned(as: UInt64.self)))
                if special != 0 {
                    k += special.trailingZeroBitCount >> 3
                    break
                }
                k += 8
            }
            guard k < end else { break }
            let c = bytes[k]
            if c == UInt8(ascii: "\"") {
                i = k + 1
                return (start, k - start, escaped)
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                k += 2
                continue
            }
            if c < 0x20 {
                i = k
                throw Self.syntaxFailure("control character in a string at byte", k)
            }
            k += 1
        }
        i = end
        throw Self.syntaxFailure("unterminated string starting at byte", start - 1)
    }

    /// A syntax failure at a byte offset, out of line (keeps the inlined lexing small).
    @inline(never) static func syntaxFailure(_ message: StaticString, _ offset: Int) -> JSONSyntaxError {
        JSONSyntaxError("\(message) \(offset)")
    }

    /// The high bit of each byte of `w` that is `"`, `\\` or a control character; the lowest set
    /// bit is exact (the classic "has zero byte" trick: borrows can only flag later bytes).
    @inline(__always) static func specialBytes(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        return ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (w &- ones &* 0x20) & ~w) & highs
    }

    /// Decodes a string's escapes (`\n`, `\"`, `\u00e9`, surrogate pairs) into UTF-8 bytes.
    func unescape(_ start: Int, _ length: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        var k = start
        let stop = start + length
        while k < stop {
            let c = bytes[k]
            guard c == UInt8(ascii: "\\"), k + 1 < stop else {
                out.append(c)
                k += 1
                continue
            }
            let e = bytes[k + 1]
            k += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = hex4(k, stop)
                k += 4
                if let high = scalar, (0xD800...0xDBFF).contains(high), k + 6 <= stop, bytes[k] == UInt8(ascii: "\\"),
                    bytes[k + 1] == UInt8(ascii: "u"), let low = hex4(k + 2, stop), (0xDC00...0xDFFF).contains(low)
                {
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    k += 6
                }
                let unicode = scalar.flatMap(UnicodeScalar.init) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default: out.append(e)
            }
        }
        return out
    }

    func hex4(_ k: Int, _ stop: Int) -> UInt32? {
        guard k + 4 <= stop else { return nil }
        var v: UInt32 = 0
        for j in 0..<4 {
            let c = bytes[k + j]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    /// A JSON number, converted with correct rounding: exact fast path for a mantissa below 2^53
    /// and a power of ten up to 22, `strtod` otherwise.
    /// A number's parts as scanned: up to 19 digits of mantissa (`truncated` past them) and the
    /// decimal exponent.
    struct ScannedNumber {
        var negative: Bool
        var mantissa: UInt64
        var exponent: Int
        var truncated: Bool
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> Double {
        let start = i
        let n = try scanNumber()
        // Clinger's fast path: both operands exact in a double, one correctly rounded operation.
        if !n.truncated, n.mantissa < (1 << 53), n.exponent >= -22, n.exponent <= 22 {
            var value = Double(n.mantissa)
            if n.exponent < 0 { value /= Self.powersOfTen[-n.exponent] } else { value *= Self.powersOfTen[n.exponent] }
            return n.negative ? -value : value
        }
        return slowNumber(start: start, length: i - start)
    }

    /// Checks a number's syntax and steps over it without converting it: `skipValue` (the
    /// duplicate-key check reads every number of a body, and a 17-digit one cost a strtod call).
    mutating func skipNumber() throws(JSONSyntaxError) {
        _ = try scanNumber()
    }

    @inline(__always) mutating func scanNumber() throws(JSONSyntaxError) -> ScannedNumber {
        // A local cursor: `i` is a stored property, and updating it per digit kept it in memory.
        let start = i
        let bytes = self.bytes, end = self.end
        var k = i
        defer { i = k }
        @inline(__always) func digit(_ k: Int) -> UInt8? {
            guard k < end else { return nil }
            let d = bytes[k] &- UInt8(ascii: "0")
            return d <= 9 ? d : nil
        }
        var negative = false
        if bytes[k] == UInt8(ascii: "-") {
            negative = true
            k += 1
        }
        // Up to 19 digits (leading zeros included) fit a UInt64 exactly; past them the number
        // is `truncated` and goes to strtod.
        var mantissa: UInt64 = 0
        var digits = 0
        var truncated = false
        var exponent = 0
        guard let first = digit(k) else { throw Self.syntaxFailure("invalid number at byte", start) }
        if first == 0 {
            k += 1
            if digit(k) != nil { throw Self.syntaxFailure("leading zero in a number at byte", start) }
        } else {
            while let d = digit(k) {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    digits += 1
                } else {
                    truncated = true
                }
                k += 1
            }
        }
        if k < end, bytes[k] == UInt8(ascii: ".") {
            k += 1
            guard digit(k) != nil else { throw Self.syntaxFailure("a number needs digits after '.' at byte", start) }
            while let d = digit(k) {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    digits += 1
                    exponent -= 1
                } else {
                    truncated = true
                }
                k += 1
            }
        }
        if k < end, bytes[k] == UInt8(ascii: "e") || bytes[k] == UInt8(ascii: "E") {
            k += 1
            var expNegative = false
            if k < end, bytes[k] == UInt8(ascii: "+") || bytes[k] == UInt8(ascii: "-") {
                expNegative = bytes[k] == UInt8(ascii: "-")
                k += 1
            }
            guard digit(k) != nil else { throw Self.syntaxFailure("a number needs digits in its exponent at byte", start) }
            var e = 0
            while let d = digit(k) {
                if e < 100_000 { e = e * 10 + Int(d) }
                k += 1
            }
            exponent += expNegative ? -e : e
        }
        return ScannedNumber(negative: negative, mantissa: mantissa, exponent: exponent, truncated: truncated)
    }

    private mutating func slowNumber(start: Int, length: Int) -> Double {
        if scratch.count < length + 1 { scratch = [CChar](repeating: 0, count: length + 1) }
        return scratch.withUnsafeMutableBufferPointer { buffer -> Double in
            let p = buffer.baseAddress!
            UnsafeMutableRawPointer(p).copyMemory(from: bytes + start, byteCount: length)
            p[length] = 0
            return strtod(p, nil)
        }
    }

    /// Exact in a double up to 1e22. A literal, so it is built at compile time (a computed table
    /// cost a `swift_once` call per number).
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// Skips any JSON value; returns its kind for messages ("a string", "an object", ...).
    mutating func skipValue(depth: Int = 0) throws(JSONSyntaxError) -> String {
        guard depth < 64 else { throw JSONSyntaxError("nesting deeper than 64 levels at byte \(i)") }
        guard let c = peek() else { throw JSONSyntaxError("unexpected end of the body") }
        switch c {
        case UInt8(ascii: "\""):
            _ = try scanString()
            return "a string"
        case UInt8(ascii: "t"):
            try literal("true")
            return "a boolean"
        case UInt8(ascii: "f"):
            try literal("false")
            return "a boolean"
        case UInt8(ascii: "n"):
            try literal("null")
            return "null"
        case UInt8(ascii: "N"):
            try literal("NaN")
            return "NaN"
        case UInt8(ascii: "I"):
            try literal("Infinity")
            return "Infinity"
        case UInt8(ascii: "["):
            try elements { (lexer, _) throws(JSONSyntaxError) in
                _ = try lexer.skipValue(depth: depth + 1)
                return true
            }
            return "a list"
        case UInt8(ascii: "{"):
            try members { (lexer, _, _, _) throws(JSONSyntaxError) in
                _ = try lexer.skipValue(depth: depth + 1)
                return true
            }
            return "an object"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if c == UInt8(ascii: "-"), peekAt(1) == UInt8(ascii: "I") {
                try literal("-Infinity")
                return "-Infinity"
            }
            try skipNumber()
            return "a number"
        default:
            throw JSONSyntaxError("unexpected '\(Self.printable(c))' at byte \(i)")
        }
    }

    static func printable(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : String(format: "\\x%02X", c)
    }
}
