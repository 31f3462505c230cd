import Foundation
import Hummingbird

/// How every controller takes a JSON body: the content type checked (415), the body collected up
/// to its limit (413), and for the small bodies that are not a measured hot path, decoded with
/// `Codable` (400 with the route's own message).
extension Request {
    /// The body of a JSON request, at most `limit` bytes.
    func jsonBody(upTo limit: Int) async throws -> ByteBuffer {
        try await body(upTo: limit, accepting: Self.isJSON, expected: "application/json")
    }

    /// `application/json` or `application/<anything>+json`, parameters ignored.
    static func isJSON(_ media: String) -> Bool {
        media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }

    /// The body, at most `limit` bytes, when `accepting` takes its media type (lowercased, without
    /// parameters; empty when the request names none); else 415 naming `expected`.
    func body(upTo limit: Int, accepting: (String) -> Bool, expected: String) async throws -> ByteBuffer {
        let type = headers.value(.contentType) ?? ""
        let media = Self.mediaType(type)
        guard accepting(media) else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "send the body as \(expected) (got \(type.isEmpty ? "no Content-Type" : "'\(type)'"))")
        }
        // A declared length over the limit is refused before a byte of the body is buffered; the
        // connection guard then reads and discards the rest (`ConnectionWatch`).
        if let declared = headers.value(.contentLength).flatMap({ Int($0) }), declared > limit {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "the request body is larger than \(limit) bytes")
        }
        do {
            return try await body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "the request body is larger than \(limit) bytes")
        }
    }

    /// `type`'s media type: before any `;`, without surrounding spaces or tabs, in lower case.
    /// By bytes: Foundation's trimming (through `CharacterSet`) and `lowercased()` took about 5 µs
    /// of a 1-reading `/predict` (perf, 4 % of its server time).
    static func mediaType(_ type: String) -> String {
        var bytes = Substring(type).utf8
        if let semicolon = bytes.firstIndex(of: UInt8(ascii: ";")) { bytes = bytes[..<semicolon] }
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) }) else { return "" }
        let trimmed = bytes[first...last]
        if !trimmed.contains(where: { $0 &- UInt8(ascii: "A") < 26 }) { return String(Substring(trimmed)) }
        return String(decoding: trimmed.map { $0 &- UInt8(ascii: "A") < 26 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// A small JSON body decoded as `T`; a repeated key or anything that does not decode is a 400.
    func decodeJSON<T: Decodable>(as type: T.Type, upTo limit: Int, expected: String, details: [APIError.Detail] = []) async throws -> T {
        let buffer = try await jsonBody(upTo: limit)
        try Self.refuseDuplicateKeys(buffer)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.validation(expected, details)
        }
    }

    /// 400 `duplicate_key` when `body` repeats a key in one object (see JSONLexer+DuplicateKeys).
    static func refuseDuplicateKeys(_ body: ByteBuffer) throws {
        if let key = body.withUnsafeReadableBytes({ JSONLexer.firstDuplicateKey(in: $0) }) { throw APIError.duplicateKey(key) }
    }
}
