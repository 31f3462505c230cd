/// The object and array loops the general readers share (`skipValue`, `JSONValue`, the
/// duplicate-key check's arrays). The duplicate-key check keeps its object loop: it checks a key
/// before the colon, so a duplicate is named even in a body that breaks right after it. The two
/// measured fast parsers keep loops of their own: `ReadingsDecoder+Parser`
/// (/predict: keys matched against the feature table as they are scanned, numbers written into
/// their column) and `DetectBodyParser` (/anomaly/detect: its member closures throw `NotFast` to
/// hand a body to the general parser, which a `JSONSyntaxError`-typed walker cannot carry).
extension JSONLexer {
    /// Walks an object from its `{`: `member` gets each key's raw byte range (`escaped`: it holds
    /// escapes, read it with `unescape`), is positioned at the value, and must read the value.
    /// Returns false as soon as `member` does (the lexer stands after that value), true at `}`.
    @discardableResult
    mutating func members(
        _ member: (inout JSONLexer, _ start: Int, _ length: Int, _ escaped: Bool) throws(JSONSyntaxError) -> Bool
    ) throws(JSONSyntaxError) -> Bool {
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            i += 1
            return true
        }
        while true {
            skipSpace()
            guard peek() == UInt8(ascii: "\"") else { throw JSONSyntaxError("expected a key string at byte \(i)") }
            let (start, length, escaped) = try scanString()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            guard try member(&self, start, length, escaped) else { return false }
            skipSpace()
            if peek() == UInt8(ascii: ",") {
                i += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            return true
        }
    }

    /// Walks an array from its `[`: `element` gets each element's index, positioned at it, and
    /// must read it. Returns false as soon as `element` does, true at `]`.
    @discardableResult
    mutating func elements(_ element: (inout JSONLexer, _ index: Int) throws(JSONSyntaxError) -> Bool) throws(JSONSyntaxError) -> Bool {
        try expect(UInt8(ascii: "["))
        skipSpace()
        if peek() == UInt8(ascii: "]") {
            i += 1
            return true
        }
        var index = 0
        while true {
            skipSpace()
            guard try element(&self, index) else { return false }
            index += 1
            skipSpace()
            if peek() == UInt8(ascii: ",") {
                i += 1
                continue
            }
            try expect(UInt8(ascii: "]"))
            return true
        }
    }
}
