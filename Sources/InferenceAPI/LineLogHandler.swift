import Foundation
import Logging
import Synchronization

/// swift-log handler that writes one line per event, as a JSON object (`LOG_FORMAT=json`,
/// the default): `{"ts":"...","level":"info","logger":"inference-api","message":"...","request_id":"...",...metadata}`,
/// or as text (`LOG_FORMAT=text`): `ts level logger: message key=value ...` with control
/// characters escaped and values quoted as logfmt does (`key="a b"`), so a value a client chose
/// (a run id with a newline, or with ` reason=x`) cannot forge a line or a field.
/// Hummingbird's request id (`hb.request.id`) becomes `request_id`, so every line a request
/// writes carries it. Values are written as strings; nothing here logs request bodies.
public struct LineLogHandler: LogHandler {
    public enum Format: Sendable {
        case json
        case text
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let sink: @Sendable (String) -> Void

    /// Writes to standard error.
    public init(label: String, level: Logger.Level, format: Format = .json) {
        self.init(label: label, level: level, format: format, sink: { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        })
    }

    /// Writes each line to `sink` (tests capture lines this way).
    public init(label: String, level: Logger.Level, format: Format = .json, sink: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var fields: [String: String] = [
            "ts": ModelInfo.timestamp(Date()), "level": event.level.rawValue, "logger": label, "message": "\(event.message)",
        ]
        for (key, value) in merged {
            fields[key == "hb.request.id" ? "request_id" : key] = "\(value)"
        }
        switch format {
        case .json:
            sink(JSONWriter.sortedObject(fields))
        case .text:
            let head = [fields["ts"]!, fields["level"]!, "\(label):", Self.quoted(fields["message"]!, unless: { $0 != "=" && $0 != "\"" })]
            let rest = fields.keys.filter { !["ts", "level", "logger", "message"].contains($0) }.sorted().map {
                "\(Self.quoted($0))=\(Self.quoted(fields[$0]!))"
            }
            sink((head + rest).joined(separator: " "))
        }
    }

    /// logfmt's quoting: `text` escaped, and in double quotes (with `"` escaped) unless every
    /// character passes `plain` (by default: not a space, `=` or `"`) and it is not empty. So a
    /// value a client chose (`x reason=forged`) stays one value and cannot add a field.
    static func quoted(_ text: String, unless plain: (Character) -> Bool = { $0 != " " && $0 != "=" && $0 != "\"" }) -> String {
        let escaped = escaped(text)
        guard escaped.isEmpty || !escaped.allSatisfy(plain) else { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Control characters (newlines among them) and backslashes written as escapes: one event, one line.
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}":
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// The JSON lines handler (what `LOG_FORMAT=json` installs).
public typealias JSONLogHandler = LineLogHandler
