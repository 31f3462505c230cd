import Foundation

/// One raw sample of an asset's metrics (`metric_samples`).
public struct MetricSample: Sendable, Equatable {
    public var timestamp: Date
    public var metrics: [String: Double]

    public init(timestamp: Date, metrics: [String: Double]) {
        self.timestamp = timestamp
        self.metrics = metrics
    }
}

/// One row of `anomaly_scores`.
public struct AnomalyScoreRecord: Sendable, Equatable {
    public var id: Int64?
    public var tenantId: String
    public var assetId: String
    public var metricName: String
    public var score: Double
    public var isAnomaly: Bool
    public var threshold: Double
    public var method: String
    public var modelId: String?
    /// A JSON object, as text.
    public var metadata: String
    public var timestamp: Date

    public init(
        id: Int64? = nil, tenantId: String, assetId: String, metricName: String, score: Double, isAnomaly: Bool,
        threshold: Double, method: String, modelId: String?, metadata: String = "{}", timestamp: Date
    ) {
        self.id = id
        self.tenantId = tenantId
        self.assetId = assetId
        self.metricName = metricName
        self.score = score
        self.isAnomaly = isAnomaly
        self.threshold = threshold
        self.method = method
        self.modelId = modelId
        self.metadata = metadata
        self.timestamp = timestamp
    }
}

/// One row of `model_metadata`: an anomaly model of an asset, or a hazard-model activation.
public struct ModelRecord: Sendable, Equatable {
    public var id: Int64?
    public var tenantId: String
    /// `isolation_forest` or `xgboost_hazard`.
    public var modelType: String
    public var modelVersion: String
    public var assetId: String?
    public var trainingDate: Date
    /// JSON objects, as text.
    public var metrics: String
    public var parameters: String
    /// `active` or `retired`.
    public var status: String
    public var artifact: [UInt8]?
    public var artifactPath: String?
    public var metadata: String
    public var createdAt: Date?

    public init(
        id: Int64? = nil, tenantId: String, modelType: String, modelVersion: String, assetId: String?, trainingDate: Date,
        metrics: String = "{}", parameters: String = "{}", status: String = "active", artifact: [UInt8]? = nil,
        artifactPath: String? = nil, metadata: String = "{}", createdAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.modelType = modelType
        self.modelVersion = modelVersion
        self.assetId = assetId
        self.trainingDate = trainingDate
        self.metrics = metrics
        self.parameters = parameters
        self.status = status
        self.artifact = artifact
        self.artifactPath = artifactPath
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// A filter for score history.
public struct ScoreQuery: Sendable {
    public var tenantId: String
    public var assetId: String
    public var since: Date?
    /// Rows strictly before this time.
    public var until: Date?
    public var metricName: String?
    public var anomaliesOnly: Bool
    /// The last row of the previous page (newest first): rows strictly after it in that order.
    public var after: (timestamp: Date, id: Int64)?
    public var limit: Int

    public init(
        tenantId: String, assetId: String, since: Date? = nil, until: Date? = nil, metricName: String? = nil, anomaliesOnly: Bool = false,
        after: (timestamp: Date, id: Int64)? = nil, limit: Int = 100
    ) {
        self.tenantId = tenantId
        self.assetId = assetId
        self.since = since
        self.until = until
        self.metricName = metricName
        self.anomaliesOnly = anomaliesOnly
        self.after = after
        self.limit = limit
    }
}

/// Metrics maps as JSON text, the same on both back ends.
public enum MetricsJSON {
    /// `{"a":1.5,"b":2}` with sorted keys; non-finite values are left out (JSON has none).
    /// Written by hand: JSONSerialization took 30% of a 10,000-sample detect (measured with perf).
    public static func encode(_ metrics: [String: Double]) -> String {
        var order = SortedPairs()
        return encode(metrics, order: &order)
    }

    /// `encode` for many maps with one key set (a request's samples, its detections' details):
    /// `order` sorts the keys once. Built as bytes: appending to a `String` scalar by scalar, then
    /// sorting and looking up every key, were most of a persisting detect's server time (perf).
    public static func encode(_ metrics: [String: Double], order: inout SortedPairs) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(2 + metrics.count * 40)
        out.append(UInt8(ascii: "{"))
        order.forEach(metrics) { key, value in
            guard value.isFinite else { return }
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            appendQuoted(key, to: &out)
            out.append(UInt8(ascii: ":"))
            var number = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : value.description
            number.withUTF8 { out.append(contentsOf: $0) }
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\u00xx`, the rest as is.
    static func appendQuoted(_ key: String, to out: inout [UInt8]) {
        func hex(_ digit: UInt8) -> UInt8 { digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10 }
        var key = key
        out.append(UInt8(ascii: "\""))
        key.withUTF8 { bytes in
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
                case ..<0x20: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex(byte >> 4), hex(byte & 15)])
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The map back, every number exactly as written. Read by hand for the usual text (what
    /// `encode` writes, or PostgreSQL's `jsonb` text: flat, numbers, keys without escapes): on
    /// Linux `JSONSerialization` reads some doubles wrong in their last digits (0.9065155807365439
    /// as ...443), and `JSONDecoder`, which reads them right, took twice its time (measured, 5
    /// metrics). Anything else (escaped keys) goes through `JSONDecoder`.
    public static func decode(_ text: String) -> [String: Double] {
        var text = text
        if let flat = text.withUTF8({ flatNumbers($0) }) { return flat }
        return (try? JSONDecoder().decode([String: Double].self, from: Data(text.utf8)))?.filter { $0.value.isFinite } ?? [:]
    }

    /// `{"key": number, ...}` with keys free of escapes, or nil.
    static func flatNumbers(_ bytes: UnsafeBufferPointer<UInt8>) -> [String: Double]? {
        var i = 0
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == byte else { return false }
            i += 1
            return true
        }
        guard take(UInt8(ascii: "{")) else { return nil }
        var out: [String: Double] = [:]
        if take(UInt8(ascii: "}")) { skipSpace(); return i == bytes.count ? out : nil }
        repeat {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let keyStart = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
            let key = String(decoding: UnsafeBufferPointer(rebasing: bytes[keyStart..<i]), as: UTF8.self)
            i += 1
            guard take(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            let numberStart = i
            while i < bytes.count, (48...57).contains(bytes[i]) || [UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[i]) {
                i += 1
            }
            // Swift's `Double(_:)` rounds correctly (strtod); JSON's grammar is a subset of what it takes.
            guard i > numberStart, let value = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[numberStart..<i]), as: UTF8.self)), value.isFinite
            else { return nil }
            out[key] = value
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        return i == bytes.count ? out : nil
    }
}

/// A dictionary's entries in key order, for many dictionaries that share one key set (a
/// request's samples, its detections' details): the keys are sorted when the set changes, not
/// for every dictionary, and no key is hashed: each entry, read in the dictionary's own order
/// (which differs between dictionaries of equal keys), finds its place among the remembered
/// sorted keys by equality, a compare of two words for short keys.
public struct SortedPairs: Sendable {
    private var sortedKeys: [String] = []
    private var slots: [Double] = []

    public init() {}

    public mutating func forEach(_ map: [String: Double], _ body: (String, Double) -> Void) {
        if map.count != sortedKeys.count || !place(map) {
            sortedKeys = map.keys.sorted()
            _ = place(map)
        }
        for index in sortedKeys.indices { body(sortedKeys[index], slots[index]) }
    }

    /// Puts each value of `map` in the slot of its key; false when a key is not among them.
    private mutating func place(_ map: [String: Double]) -> Bool {
        slots.removeAll(keepingCapacity: true)
        slots.append(contentsOf: repeatElement(0, count: sortedKeys.count))
        for (key, value) in map {
            guard let index = sortedKeys.firstIndex(of: key) else { return false }
            slots[index] = value
        }
        return true
    }
}
