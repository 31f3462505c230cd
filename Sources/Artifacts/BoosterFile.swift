import Foundation

/// What an XGBoost model file says about itself, read without libxgboost.
///
/// libxgboost 1.7 reads files written by newer xgboost, but not always faithfully (it ignores
/// the `base_score` that xgboost >= 2.0 saves as `"[3.72E-1]"`). This type reads the saved
/// `learner_model_param` and writer version independently so `Booster` can check and correct
/// what the library loaded.
public struct BoosterFile: Sendable {
    public enum Format: String, Sendable {
        case json
        case ubjson
        case legacyBinary = "legacy-binary"
    }

    public let format: Format
    /// The xgboost version that wrote the file (`[major, minor, patch]`), when it says.
    public let writerVersion: [Int]?
    /// `learner.learner_model_param` as saved: string values, e.g. `base_score: "[3.72E-1]"`.
    public let learnerModelParam: [String: String]
    /// Bytes to hand to libxgboost 1.7 instead of the file's, when the file would not load as is.
    let bytesLoadableBy17: [UInt8]?

    public var writerVersionString: String? {
        writerVersion.map { $0.map(String.init).joined(separator: ".") }
    }

    init(bytes: [UInt8], path: String?) throws {
        guard bytes.count >= 2 else {
            throw ArtifactError(.malformed, "booster file is empty or truncated", path: path)
        }
        if bytes[0] == UInt8(ascii: "{") && (bytes[1] == UInt8(ascii: "\"") || Self.isJSONSpace(bytes[1])) {
            format = .json
            (writerVersion, learnerModelParam) = try Self.readJSON(bytes, path: path)
        } else if bytes[0] == UInt8(ascii: "{"), Self.isASCIILetter(bytes[1]) {
            format = .ubjson
            var reader = UBJSONReader(bytes: bytes)
            guard let root = try? reader.readValue(), case .object(let members) = root else {
                throw ArtifactError(.malformed, "booster file is not valid UBJSON", path: path)
            }
            writerVersion = Self.version(from: members.first { $0.0 == "version" }?.1)
            learnerModelParam = Self.learnerParam(from: root)
        } else {
            format = .legacyBinary
            writerVersion = nil
            learnerModelParam = [:]
        }
        bytesLoadableBy17 = nil
    }

    /// Parses a saved base_score: `"5E-1"`, `"3.72E-1"` or the vector form `"[3.72E-1]"` of xgboost >= 2.
    /// Only one intercept makes sense for a binary classifier; more are refused (nil).
    public static func parseBaseScore(_ text: String) -> Double? {
        var trimmed = Substring(text).trimmingCharacters(in: .whitespaces)[...]
        if trimmed.hasPrefix("["), trimmed.hasSuffix("]") {
            trimmed = trimmed.dropFirst().dropLast()
            if trimmed.contains(",") { return nil }
        }
        return Double(trimmed.trimmingCharacters(in: .whitespaces))
    }

    // MARK: - JSON

    private static func readJSON(_ bytes: [UInt8], path: String?) throws -> ([Int]?, [String: String]) {
        guard let root = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw ArtifactError(.malformed, "booster file is not valid JSON", path: path)
        }
        let version = (root["version"] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue }
        let learner = root["learner"] as? [String: Any]
        let param = learner?["learner_model_param"] as? [String: Any] ?? [:]
        var strings: [String: String] = [:]
        for (key, value) in param {
            if let s = value as? String { strings[key] = s } else if let n = value as? NSNumber { strings[key] = n.stringValue }
        }
        return (version, strings)
    }

    // MARK: - UBJSON

    private static func version(from node: UBJSONReader.Node?) -> [Int]? {
        guard case .array(let items)? = node else { return nil }
        let numbers = items.compactMap { item -> Int? in
            if case .number(let n) = item { return Int(n) }
            return nil
        }
        return numbers.count == items.count ? numbers : nil
    }

    private static func learnerParam(from root: UBJSONReader.Node) -> [String: String] {
        guard
            let learner = root.member("learner"),
            case .object(let members)? = learner.member("learner_model_param")
        else { return [:] }
        var out: [String: String] = [:]
        for (key, value) in members {
            switch value {
            case .string(let s): out[key] = s
            case .number(let n): out[key] = String(n)
            default: break
            }
        }
        return out
    }

    private static func isJSONSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
    private static func isASCIILetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
}

/// A reader for the subset of UBJSON (Draft 12) that xgboost writes: objects, arrays, strongly
/// typed arrays (`[$d#L...`), strings and numbers, big-endian. Typed arrays (the trees' node
/// tables) are skipped, not decoded: only the small metadata objects are needed.
///
/// Written by hand because no Swift UBJSON package is available here, and only this skim is needed.
struct UBJSONReader {
    indirect enum Node {
        case object([(String, Node)])
        case array([Node])
        case typedArray(count: Int)
        case string(String)
        case number(Double)
        case bool(Bool)
        case null

        func member(_ name: String) -> Node? {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.0 == name }?.1
        }
    }

    struct Malformed: Error {}

    let bytes: [UInt8]
    var offset = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func readValue() throws -> Node {
        try readValue(marker: try byte())
    }

    private mutating func readValue(marker: UInt8) throws -> Node {
        switch marker {
        case UInt8(ascii: "{"): return try readObject()
        case UInt8(ascii: "["): return try readArray()
        case UInt8(ascii: "S"): return .string(try readString())
        case UInt8(ascii: "T"): return .bool(true)
        case UInt8(ascii: "F"): return .bool(false)
        case UInt8(ascii: "Z"): return .null
        case UInt8(ascii: "C"): return .string(String(UnicodeScalar(try byte())))
        case UInt8(ascii: "d"): return .number(Double(Float(bitPattern: UInt32(try bigEndian(4)))))
        case UInt8(ascii: "D"): return .number(Double(bitPattern: try bigEndian(8)))
        default: return .number(Double(try integer(marker: marker)))
        }
    }

    private mutating func readObject() throws -> Node {
        depth += 1
        defer { depth -= 1 }
        guard depth < 64 else { throw Malformed() }
        var members: [(String, Node)] = []
        while true {
            let marker = try byte()
            if marker == UInt8(ascii: "}") { return .object(members) }
            let keyLength = try integer(marker: marker)
            let key = try readBytesAsString(count: keyLength)
            members.append((key, try readValue()))
        }
    }

    private mutating func readArray() throws -> Node {
        depth += 1
        defer { depth -= 1 }
        guard depth < 64 else { throw Malformed() }
        if peek() == UInt8(ascii: "$") {
            offset += 1
            let type = try byte()
            guard try byte() == UInt8(ascii: "#") else { throw Malformed() }
            let count = try integer(marker: try byte())
            let width: Int
            switch type {
            case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "C"): width = 1
            case UInt8(ascii: "I"): width = 2
            case UInt8(ascii: "l"), UInt8(ascii: "d"): width = 4
            case UInt8(ascii: "L"), UInt8(ascii: "D"): width = 8
            default: throw Malformed()
            }
            let (size, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow, count >= 0, size <= bytes.count - offset else { throw Malformed() }
            offset += size
            return .typedArray(count: count)
        }
        var items: [Node] = []
        if peek() == UInt8(ascii: "#") {
            offset += 1
            let count = try integer(marker: try byte())
            guard count >= 0, count <= bytes.count - offset else { throw Malformed() }
            for _ in 0..<count { items.append(try readValue()) }
            return .array(items)
        }
        while true {
            let marker = try byte()
            if marker == UInt8(ascii: "]") { return .array(items) }
            items.append(try readValue(marker: marker))
        }
    }

    private mutating func readString() throws -> String {
        let length = try integer(marker: try byte())
        return try readBytesAsString(count: length)
    }

    private mutating func readBytesAsString(count: Int) throws -> String {
        guard count >= 0, count <= bytes.count - offset else { throw Malformed() }
        let s = String(decoding: bytes[offset..<(offset + count)], as: UTF8.self)
        offset += count
        return s
    }

    private mutating func integer(marker: UInt8) throws -> Int {
        switch marker {
        case UInt8(ascii: "i"): return Int(Int8(bitPattern: try byte()))
        case UInt8(ascii: "U"): return Int(try byte())
        case UInt8(ascii: "I"): return Int(Int16(bitPattern: UInt16(try bigEndian(2))))
        case UInt8(ascii: "l"): return Int(Int32(bitPattern: UInt32(try bigEndian(4))))
        case UInt8(ascii: "L"): return Int(Int64(bitPattern: try bigEndian(8)))
        default: throw Malformed()
        }
    }

    private mutating func bigEndian(_ width: Int) throws -> UInt64 {
        guard width <= bytes.count - offset else { throw Malformed() }
        var value: UInt64 = 0
        for i in 0..<width { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += width
        return value
    }

    private mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw Malformed() }
        defer { offset += 1 }
        return bytes[offset]
    }

    private func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }
}
