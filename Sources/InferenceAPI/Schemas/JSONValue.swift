import Foundation

/// Any JSON value, read strictly by `JSONLexer` (a boolean is never a number), so request
/// validation can say exactly which field of which item is wrong.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses strict JSON (RFC 8259: no NaN or Infinity, nothing after the value, at most 64
    /// levels deep) with `JSONLexer`, whose numbers are correctly rounded like Python's and the
    /// fast parsers', so the fast and slow detect paths read the same values (JSONSerialization
    /// reads a number of more than 17 digits as an NSDecimalNumber whose `doubleValue` can be an
    /// ulp off).
    static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw -> JSONValue? in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count > 0 else { return nil }
            var lexer = JSONLexer(bytes: base, end: raw.count)
            do {
                lexer.skipSpace()
                let value = try lexer.parseValue(depth: 0)
                lexer.skipSpace()
                return lexer.i == lexer.end ? value : nil
            } catch {
                return nil
            }
        }
    }
    /// "a string", "a number", ... for messages.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

extension JSONLexer {
    /// One JSON value as a tree (strict: the literals NaN and Infinity that `skipValue` names for
    /// messages are syntax errors here).
    mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < 64 else { throw JSONSyntaxError("nesting deeper than 64 levels at byte \(i)") }
        guard let c = peek() else { throw JSONSyntaxError("unexpected end of the body") }
        switch c {
        case UInt8(ascii: "\""):
            let (start, length, escaped) = try scanString()
            let text = escaped ? unescape(start, length) : Array(UnsafeBufferPointer(start: bytes + start, count: length))
            return .string(String(decoding: text, as: UTF8.self))
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try elements { (lexer, _) throws(JSONSyntaxError) in
                items.append(try lexer.parseValue(depth: depth + 1))
                return true
            }
            return .array(items)
        case UInt8(ascii: "{"):
            var object: [String: JSONValue] = [:]
            try members { (lexer, start, length, escaped) throws(JSONSyntaxError) in
                let key = lexer.keyBytes(start, length, escaped)
                object[String(decoding: key, as: UTF8.self)] = try lexer.parseValue(depth: depth + 1)
                return true
            }
            return .object(object)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw JSONSyntaxError("unexpected '\(Self.printable(c))' at byte \(i)")
        }
    }
}
