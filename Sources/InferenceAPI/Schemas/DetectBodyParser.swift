import Foundation
import Storage

/// The fast path for `POST /anomaly/detect` bodies: one pass over the bytes with a `JSONLexer`,
/// straight into `MetricSample`s, metric-name strings made once per distinct name. Foundation's `JSONDecoder` took most of a 1000-sample request's time.
///
/// It accepts only a body that is entirely valid; anything else (a syntax error, an unknown
/// key, a bad value, an escaped string) returns nil and the caller takes the slow path, which
/// says exactly what is wrong. So every validation message stays in one place.
struct DetectBodyParser {
    static func parse(_ body: UnsafeRawBufferPointer, maxSamples: Int) -> AnomalyRequests.Detect? {
        guard let base = body.baseAddress?.assumingMemoryBound(to: UInt8.self), body.count > 0 else { return nil }
        var parser = JSONLexer(bytes: base, end: body.count)
        var names = NameCache()
        do {
            return try parser.parseDetect(maxSamples: maxSamples, names: &names)
        } catch {
            return nil
        }
    }

    /// Metric names seen in this body, so 1000 samples of the same 5 metrics make 5 strings.
    struct NameCache {
        var bytes: [[UInt8]] = []
        var strings: [String] = []

        mutating func name(_ parser: JSONLexer, start: Int, length: Int) -> String? {
            for (k, candidate) in bytes.enumerated() where parser.equal(start, length, candidate) { return strings[k] }
            guard bytes.count < 256 else { return nil }
            let raw = Array(UnsafeBufferPointer(start: parser.bytes + start, count: length))
            let name = String(decoding: raw, as: UTF8.self)
            guard AnomalyRequests.isMetricName(name) else { return nil }
            bytes.append(raw)
            strings.append(name)
            return name
        }
    }
}

/// Anything the fast path does not take; never reaches a client.
private struct NotFast: Error {}

/// The keys the fast path knows, as bytes, made once.
private enum Keys {
    static let assetId = Array("asset_id".utf8)
    static let samples = Array("samples".utf8)
    static let persist = Array("persist".utf8)
    static let timestamp = Array("timestamp".utf8)
    static let metrics = Array("metrics".utf8)
}

extension JSONLexer {
    /// Walks a JSON object: for each member, `member` is called with the key's raw byte range
    /// (compared in place, never copied) positioned at the value, and must read the value.
    fileprivate mutating func members(_ member: (inout Self, _ start: Int, _ length: Int) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            i += 1
            return
        }
        while true {
            skipSpace()
            let (start, length, escaped) = try scanString()
            guard !escaped else { throw NotFast() }
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            try member(&self, start, length)
            skipSpace()
            if peek() == UInt8(ascii: ",") {
                i += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            return
        }
    }

    /// `{"asset_id": "...", "samples": [{"timestamp": "...", "metrics": {...}}], "persist": bool}`.
    fileprivate mutating func parseDetect(maxSamples: Int, names: inout DetectBodyParser.NameCache) throws -> AnomalyRequests.Detect {
        var asset: String?
        var samples: [MetricSample] = []
        var timestamps: [String] = []
        var persist = true
        var sawSamples = false
        var sawPersist = false
        skipSpace()
        try members { p, start, length in
            if p.equal(start, length, Keys.assetId) {
                guard asset == nil else { throw NotFast() }
                asset = try p.plainString()
            } else if p.equal(start, length, Keys.persist) {
                guard !sawPersist else { throw NotFast() }
                sawPersist = true
                if p.peek() == UInt8(ascii: "t") {
                    try p.literal("true")
                } else if p.peek() == UInt8(ascii: "f") {
                    try p.literal("false")
                    persist = false
                } else {
                    try p.literal("null")
                }
            } else if p.equal(start, length, Keys.samples) {
                guard !sawSamples else { throw NotFast() }
                sawSamples = true
                try p.expect(UInt8(ascii: "["))
                p.skipSpace()
                if p.peek() == UInt8(ascii: "]") { throw NotFast() }
                while true {
                    guard samples.count < maxSamples else { throw NotFast() }
                    let (time, text, metrics) = try p.parseSample(names: &names)
                    samples.append(MetricSample(timestamp: time, metrics: metrics))
                    timestamps.append(text)
                    p.skipSpace()
                    if p.peek() == UInt8(ascii: ",") {
                        p.i += 1
                        p.skipSpace()
                        continue
                    }
                    try p.expect(UInt8(ascii: "]"))
                    break
                }
            } else {
                throw NotFast()
            }
        }
        skipSpace()
        guard i == end, sawSamples, let asset, AnomalyRequests.isAssetId(asset) else { throw NotFast() }
        return AnomalyRequests.Detect(assetId: asset, samples: samples, timestamps: timestamps, persist: persist)
    }

    private mutating func parseSample(names: inout DetectBodyParser.NameCache) throws -> (Date, String, [String: Double]) {
        var time: Date?
        var text = ""
        var metrics: [String: Double]?
        try members { p, start, length in
            if p.equal(start, length, Keys.timestamp), time == nil {
                text = try p.plainString()
                guard let parsed = AnomalyRequests.parseTimestamp(text) else { throw NotFast() }
                time = parsed
            } else if p.equal(start, length, Keys.metrics), metrics == nil {
                metrics = try p.parseMetrics(names: &names)
            } else {
                throw NotFast()
            }
        }
        guard let time, let metrics else { throw NotFast() }
        return (time, text, metrics)
    }

    private mutating func parseMetrics(names: inout DetectBodyParser.NameCache) throws -> [String: Double] {
        var metrics: [String: Double] = [:]
        metrics.reserveCapacity(8)
        try members { p, start, length in
            guard let name = names.name(p, start: start, length: length), metrics[name] == nil else { throw NotFast() }
            guard let c = p.peek(), c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else { throw NotFast() }
            let value = try p.parseNumber()
            guard value.isFinite else { throw NotFast() }
            metrics[name] = value
        }
        guard !metrics.isEmpty else { throw NotFast() }
        return metrics
    }

    /// A string without escapes (ids and timestamps never need them; the slow path takes the rest).
    private mutating func plainString() throws -> String {
        let (start, length, escaped) = try scanString()
        guard !escaped else { throw NotFast() }
        return String(decoding: UnsafeBufferPointer(start: bytes + start, count: length), as: UTF8.self)
    }
}
