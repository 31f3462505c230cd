/// Duplicate keys make a JSON body ambiguous: a validating proxy may read the first, a decoder
/// the last (Foundation's and most others keep the last silently). Every JSON route refuses them;
/// the two fast parsers check as they go, the others call this first.
extension JSONLexer {
    /// The path of the first key that appears twice in one object (`samples[3].metrics.cpu`), or
    /// nil. - Throws: `JSONSyntaxError` for a body that is not JSON.
    mutating func firstDuplicateKey() throws(JSONSyntaxError) -> String? {
        skipSpace()
        return try duplicate(in: "", depth: 0)
    }

    private mutating func duplicate(in path: String, depth: Int) throws(JSONSyntaxError) -> String? {
        guard depth < 64 else { throw JSONSyntaxError("nesting deeper than 64 levels at byte \(i)") }
        switch peek() {
        case UInt8(ascii: "{"):
            // Not `members`: a key is checked before its colon, so a duplicate is named even in
            // a body that breaks right after it.
            i += 1
            var keys = Set<[UInt8]>()
            skipSpace()
            if peek() == UInt8(ascii: "}") { i += 1; return nil }
            while true {
                skipSpace()
                let (start, length, escaped) = try scanString()
                let key = keyBytes(start, length, escaped)
                let name = String(decoding: key, as: UTF8.self)
                let child = path.isEmpty ? name : "\(path).\(name)"
                guard keys.insert(key).inserted else { return child }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                if let found = try duplicate(in: child, depth: depth + 1) { return found }
                skipSpace()
                if peek() == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "}"))
                return nil
            }
        case UInt8(ascii: "["):
            var found: String?
            try elements { (lexer, index) throws(JSONSyntaxError) in
                found = try lexer.duplicate(in: "\(path)[\(index)]", depth: depth + 1)
                return found == nil
            }
            return found
        default:
            _ = try skipValue(depth: depth)
            return nil
        }
    }

    /// The first duplicate key of `body`, or nil; nil too for a body that is not JSON (the
    /// route's own parser says what is wrong with it).
    static func firstDuplicateKey(in body: UnsafeRawBufferPointer) -> String? {
        guard let base = body.baseAddress?.assumingMemoryBound(to: UInt8.self), body.count > 0 else { return nil }
        var lexer = JSONLexer(bytes: base, end: body.count)
        return try? lexer.firstDuplicateKey()
    }
}

extension APIError {
    static func duplicateKey(_ path: String) -> APIError {
        APIError(
            .badRequest, code: "duplicate_key", message: "the key '\(path)' appears twice in one object; a JSON body must not repeat a key",
            details: [.init(field: path, problem: "appears twice")])
    }
}
