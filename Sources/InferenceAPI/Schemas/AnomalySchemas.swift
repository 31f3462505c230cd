import AnomalyDetection
import ComputeSupport
import Foundation
import Storage

/// Validated anomaly requests. Every problem is listed with the sample index and field.
enum AnomalyRequests {
    struct Detect: Sendable {
        let assetId: String
        let samples: [MetricSample]
        /// The timestamps as sent, echoed in results.
        let timestamps: [String]
        let persist: Bool
    }

    struct Train: Sendable {
        /// Where the samples come from when none are given.
        enum Source: String, Sendable {
            case store
            case emsCore = "ems_core"
        }
        let assetId: String
        let metrics: [String]
        let samples: [MetricSample]?
        let from: Date?
        let to: Date?
        let parameters: IsolationForest.Parameters
        let window: Int
        var source: Source = .store
    }

    static func parse(_ data: Data) throws -> [String: JSONValue] {
        if let key = data.withUnsafeBytes({ JSONLexer.firstDuplicateKey(in: $0) }) { throw APIError.duplicateKey(key) }
        guard let value = JSONValue.parse(data) else {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON")
        }
        guard case .object(let object) = value else {
            throw APIError.validation("the body must be a JSON object")
        }
        return object
    }

    static func detect(_ data: Data, maxSamples: Int) throws -> Detect {
        // A fully valid body takes the one-pass parser; anything else is explained field by field below.
        if let fast = data.withUnsafeBytes({ DetectBodyParser.parse($0, maxSamples: maxSamples) }) { return fast }
        return try detectExplained(data, maxSamples: maxSamples)
    }

    /// The slow path: through `JSONValue`, every problem listed by sample and field.
    static func detectExplained(_ data: Data, maxSamples: Int) throws -> Detect {
        let body = try parse(data)
        var details: [APIError.Detail] = []
        let asset = assetId(body["asset_id"], &details)
        for key in body.keys where !["asset_id", "samples", "persist"].contains(key) {
            details.append(.init(field: key, problem: "unknown key"))
        }
        var persist = true
        switch body["persist"] {
        case nil, .null?: break
        case .bool(let b)?: persist = b
        case let other?: details.append(.init(field: "persist", problem: "must be a boolean, got \(other.kind)"))
        }
        let (samples, timestamps) = try self.samples(body["samples"], maxSamples: maxSamples, required: true, &details)
        guard details.isEmpty, let asset else { throw failure(details) }
        return Detect(assetId: asset, samples: samples, timestamps: timestamps, persist: persist)
    }

    static func train(_ data: Data, maxSamples: Int) throws -> Train {
        let body = try parse(data)
        var details: [APIError.Detail] = []
        let allowed = [
            "asset_id", "metrics", "samples", "from", "to", "source", "n_estimators", "max_samples", "contamination", "seed", "window", "max_features",
        ]
        for key in body.keys where !allowed.contains(key) {
            details.append(.init(field: key, problem: "unknown key", suggestion: allowed.min { editDistance($0, key) < editDistance($1, key) }))
        }
        let asset = assetId(body["asset_id"], &details)
        var metrics: [String] = []
        if case .array(let items)? = body["metrics"], !items.isEmpty {
            for (i, item) in items.enumerated() {
                if case .string(let name) = item, isMetricName(name) { metrics.append(name) } else {
                    details.append(.init(index: i, field: "metrics", problem: "must be a metric name (\(MetricName.rule))"))
                }
            }
            if Set(metrics).count != metrics.count { details.append(.init(field: "metrics", problem: "names must be unique")) }
        } else {
            details.append(.init(field: "metrics", problem: "is required: a non-empty list of metric names"))
        }
        var samples: [MetricSample]?
        if body["samples"] != nil {
            samples = try self.samples(body["samples"], maxSamples: maxSamples, required: true, &details).0
        }
        let from = date(body["from"], field: "from", &details)
        let to = date(body["to"], field: "to", &details)
        if samples != nil, from != nil || to != nil {
            details.append(.init(field: "samples", problem: "give either samples or from/to, not both"))
        }
        var source = Train.Source.store
        switch body["source"] {
        case nil, .null?: break
        case .string(let name)? where Train.Source(rawValue: name) != nil: source = Train.Source(rawValue: name)!
        default: details.append(.init(field: "source", problem: "must be \"store\" or \"ems_core\""))
        }
        if source == .emsCore {
            if samples != nil { details.append(.init(field: "samples", problem: "not with \"source\": \"ems_core\" (the samples come from EMS Core)")) }
            if from == nil { details.append(.init(field: "from", problem: "is required with \"source\": \"ems_core\"")) }
            if to == nil { details.append(.init(field: "to", problem: "is required with \"source\": \"ems_core\"")) }
            if let from, let to, from >= to { details.append(.init(field: "to", problem: "must be after from")) }
        }
        var parameters = IsolationForest.Parameters()
        if let n = integer(body["n_estimators"], field: "n_estimators", range: 1...1000, &details) { parameters.nEstimators = n }
        if let n = integer(body["max_samples"], field: "max_samples", range: 2...100_000, &details) { parameters.maxSamples = n }
        if let n = integer(body["seed"], field: "seed", range: 0...Int(Int32.max), &details) { parameters.seed = UInt64(n) }
        let window = integer(body["window"], field: "window", range: 0...1000, &details) ?? 0
        switch body["contamination"] {
        case nil, .null?, .string("auto")?: break
        case .number(let c)? where c > 0 && c <= 0.5: parameters.contamination = c
        default: details.append(.init(field: "contamination", problem: "must be \"auto\" or a number in (0, 0.5]"))
        }
        switch body["max_features"] {
        case nil, .null?: break
        case .number(let f)? where f > 0 && f <= 1: parameters.maxFeatures = f
        default: details.append(.init(field: "max_features", problem: "must be a number in (0, 1]"))
        }
        if let samples {
            for (i, sample) in samples.enumerated() {
                for name in metrics where sample.metrics[name] == nil {
                    details.append(.init(index: i, field: "metrics.\(name)", problem: "is missing"))
                }
            }
        }
        guard details.isEmpty, let asset else { throw failure(details) }
        return Train(assetId: asset, metrics: metrics, samples: samples, from: from, to: to, parameters: parameters, window: window, source: source)
    }

    // MARK: - Fields

    static func assetId(_ value: JSONValue?, _ details: inout [APIError.Detail]) -> String? {
        guard case .string(let id)? = value, isAssetId(id) else {
            details.append(.init(field: "asset_id", problem: "is required: a string of 1-128 letters, digits and _ . : / -"))
            return nil
        }
        return id
    }

    static func isAssetId(_ s: String) -> Bool {
        (1...128).contains(s.utf8.count)
            && s.utf8.allSatisfy { isAlnum($0) || [UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "-")].contains($0) }
    }

    /// `MetricName`'s rule, the one EMS Core's metrics pages are held to as well.
    static func isMetricName(_ s: String) -> Bool { MetricName.isValid(s) }

    private static func isAlnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }

    static func samples(_ value: JSONValue?, maxSamples: Int, required: Bool, _ details: inout [APIError.Detail]) throws -> ([MetricSample], [String]) {
        guard case .array(let items)? = value, !items.isEmpty else {
            details.append(.init(field: "samples", problem: "must be a non-empty list of {\"timestamp\", \"metrics\"}"))
            return ([], [])
        }
        guard items.count <= maxSamples else {
            throw APIError(.contentTooLarge, code: "too_many_samples", message: "at most \(maxSamples) samples per request (MAX_SAMPLES_PER_REQUEST)")
        }
        var samples: [MetricSample] = []
        var stamps: [String] = []
        samples.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .object(let object) = item else {
                details.append(.init(index: i, problem: "each sample must be an object, got \(item.kind)"))
                continue
            }
            var time: Date?
            switch object["timestamp"] {
            case .string(let text)?:
                switch ISO8601.parseAccepted(text) {
                case .time(let parsed):
                    time = parsed
                    stamps.append(text)
                case .outOfRange: details.append(.init(index: i, field: "timestamp", problem: "must be \(ISO8601.acceptedDescription)"))
                case .invalid: details.append(.init(index: i, field: "timestamp", problem: "is required: an ISO 8601 time like 2026-11-22T10:15:00Z"))
                }
            default:
                details.append(.init(index: i, field: "timestamp", problem: "is required: an ISO 8601 time like 2026-11-22T10:15:00Z"))
            }
            var metrics: [String: Double] = [:]
            if case .object(let values)? = object["metrics"], !values.isEmpty {
                for (name, v) in values {
                    guard isMetricName(name) else {
                        details.append(.init(index: i, field: "metrics.\(MetricName.excerpt(name))", problem: "is not a valid metric name (\(MetricName.rule))"))
                        continue
                    }
                    if case .number(let d) = v, d.isFinite { metrics[name] = d } else {
                        details.append(.init(index: i, field: "metrics.\(name)", problem: "must be a finite number, got \(v.kind)"))
                    }
                }
            } else {
                details.append(.init(index: i, field: "metrics", problem: "is required: an object of metric values"))
            }
            for key in object.keys where key != "timestamp" && key != "metrics" {
                details.append(.init(index: i, field: key, problem: "unknown key"))
            }
            if let time { samples.append(MetricSample(timestamp: time, metrics: metrics)) }
            if details.count > ReadingsDecoder.maxDetails { break }
        }
        return (samples, stamps)
    }

    static func date(_ value: JSONValue?, field: String, _ details: inout [APIError.Detail]) -> Date? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?:
            switch ISO8601.parseAccepted(text) {
            case .time(let d): return d
            case .outOfRange: details.append(.init(field: field, problem: "must be \(ISO8601.acceptedDescription)"))
            case .invalid: details.append(.init(field: field, problem: "must be an ISO 8601 time"))
            }
            return nil
        default:
            details.append(.init(field: field, problem: "must be an ISO 8601 time"))
            return nil
        }
    }

    static func integer(_ value: JSONValue?, field: String, range: ClosedRange<Int>, _ details: inout [APIError.Detail]) -> Int? {
        switch value {
        case nil, .null?: return nil
        case .number(let d)? where d == d.rounded() && d >= Double(range.lowerBound) && d <= Double(range.upperBound): return Int(d)
        default:
            details.append(.init(field: field, problem: "must be a whole number in \(range.lowerBound)...\(range.upperBound)"))
            return nil
        }
    }

    /// A time inside `ISO8601.accepted` (years 1970-9999 UTC), else nil: what every request's
    /// times are held to, so nothing is stored that the stores cannot write and read back.
    static func parseTimestamp(_ text: String) -> Date? {
        if case .time(let date) = ISO8601.parseAccepted(text) { return date }
        return nil
    }

    static func failure(_ details: [APIError.Detail]) -> APIError {
        APIError.validation("\(details.count) problem\(details.count == 1 ? "" : "s") in the request", Array(details.prefix(ReadingsDecoder.maxDetails)))
    }

    static func editDistance(_ a: String, _ b: String) -> Int { ReadingsDecoder.editDistance(a, b) }
}
