import Foundation
import Logging
import Synchronization

/// swift-log handler that writes one JSON object per line:
/// `{"ts":"...","level":"info","logger":"inference-api","message":"...","request_id":"...",...metadata}`.
/// Hummingbird's request id (`hb.request.id`) becomes `request_id`, so every line a request
/// writes carries it. Values are written as strings; nothing here logs request bodies.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: @Sendable (String) -> Void

    /// Writes to standard error.
    public init(label: String, level: Logger.Level) {
        self.init(label: label, level: level, sink: { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        })
    }

    /// Writes each line to `sink` (tests capture lines this way).
    public init(label: String, level: Logger.Level, sink: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.logLevel = level
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
        sink(JSONWriter.sortedObject(fields))
    }
}
