import AnomalyDetection
import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdCore
import Storage

/// Hostile query strings for every route that takes a cursor or a numeric or time query value,
/// and the contract their parsers keep: every value is either refused (a 400 naming it) or
/// accepted inside the range every store converts and formats without overflow. Used by
/// `inference-api fuzz-parsers` (`make fuzz`) offline, and by the live fuzz test against a
/// running server.
public enum QueryFuzzing {
    /// A route and the query parameters it takes; `{asset}` is replaced by an asset id.
    public struct Route: Sendable {
        public let path: String
        public let parameters: [String]
    }

    public static let routes: [Route] = [
        Route(path: "/anomaly/scores/{asset}", parameters: ["cursor", "hours", "limit", "from", "to", "metric", "anomalies_only"]),
        Route(path: "/anomaly/scores", parameters: ["cursor", "limit"]),
        Route(path: "/anomaly/episodes", parameters: ["cursor", "limit", "from", "to", "asset_id", "state"]),
        Route(path: "/anomaly/samples/{asset}", parameters: ["hours", "limit"]),
        Route(path: "/anomaly/models", parameters: ["asset_id"]),
        Route(path: "/ems/outbox", parameters: ["after", "limit", "state"]),
        Route(path: "/models", parameters: ["max_results", "page_token"]),
    ]

    static let numbers = [
        "-9223372036854775808", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616", "0", "-0", "-1", "1",
        "1796272236000000", "253402300799999999", "253402300800000000", "-62135596800000000", "NaN", "nan", "inf", "-inf", "Infinity", "1e308",
        "-1e308", "1e-400", "0x1p63", "9e15", "9e18", "1.5", " 1", "1 ", "+1", "", "00000000000000000000000000000000000000001", "10000", "10001",
        "87600", "87600.0001", "0.001", "0.0009",
    ]

    static let times = [
        "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59+23:59", "0000-01-01T00:00:00Z",
        "0000-01-01T00:00:00+23:59", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:01", "1970-01-01T00:00:00-00:01",
        "2026-11-22T10:15:00Z", "2026-02-29T00:00:00Z", "2024-02-29T23:59:60Z", "10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z",
        "2026-11-22T10:15:00." + String(repeating: "9", count: 2000) + "Z", "NaN", "inf", "", "2026-11-22", "2026-11-22T10:15:00",
    ]

    static let words = ["ep_x", "ep_" + String(repeating: "f", count: 61), "ep_" + String(repeating: "f", count: 62), "router-1", "", "|", "all", "open",
        "closed", "parked", "pending", "true", "maybe", "<img src=x onerror=alert(1)>", "x\"y", String(repeating: "m", count: 5000)]

    /// One `path?query` for a random route: cursors of every shape (forged numbers, wrong field
    /// counts, bad base64, too long), extreme numbers and times, NaN and infinity as text, very long
    /// values. `asset` is an asset that may have stored rows, so some cursors name real positions.
    public static func input(asset: String, using random: inout some RandomNumberGenerator) -> String {
        let route = routes.randomElement(using: &random)!
        let path = route.path.replacingOccurrences(of: "{asset}", with: Int.random(in: 0..<8, using: &random) == 0 ? "x%7Cy" : asset)
        var items: [String] = []
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            // Mostly the route's own parameters, now and then another route's.
            let name = Int.random(in: 0..<10, using: &random) == 0 ? routes.randomElement(using: &random)!.parameters.randomElement(using: &random)! :
                route.parameters.randomElement(using: &random)!
            items.append("\(name)=\(escape(value(for: name, asset: asset, using: &random)))")
        }
        return items.isEmpty ? path : path + "?" + items.joined(separator: "&")
    }

    static func value(for name: String, asset: String, using random: inout some RandomNumberGenerator) -> String {
        switch name {
        case "cursor": return cursor(asset: asset, using: &random)
        case "page_token": return pageToken(using: &random)
        case "from", "to": return Int.random(in: 0..<4, using: &random) == 0 ? randomTime(using: &random) : times.randomElement(using: &random)!
        case "hours", "limit", "after", "max_results": return number(using: &random)
        default: return Int.random(in: 0..<2, using: &random) == 0 ? words.randomElement(using: &random)! : number(using: &random)
        }
    }

    static func number(using random: inout some RandomNumberGenerator) -> String {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return String(Int64.random(in: .min ... .max, using: &random))
        case 1: return String(Double(bitPattern: UInt64.random(in: 0 ... .max, using: &random)))
        default: return numbers.randomElement(using: &random)!
        }
    }

    static func randomTime(using random: inout some RandomNumberGenerator) -> String {
        let sign = Bool.random(using: &random) ? "+" : "-"
        let date = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d", Int.random(in: 0...9999, using: &random), Int.random(in: 0...13, using: &random),
            Int.random(in: 0...32, using: &random), Int.random(in: 0...24, using: &random), Int.random(in: 0...60, using: &random),
            Int.random(in: 0...61, using: &random))
        return date + sign + String(format: "%02d:%02d", Int.random(in: 0...24, using: &random), Int.random(in: 0...60, using: &random))
    }

    /// A cursor: base64url of a forged position, or bytes that are not one at all.
    static func cursor(asset: String, using random: inout some RandomNumberGenerator) -> String {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return ["", "=", "!!!!", "%%", "zz", "AAAA====", String(repeating: "A", count: 513), String(repeating: "QUFB", count: 2000)]
            .randomElement(using: &random)!
        case 1: return base64url((0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0 ... .max, using: &random) })
        default:
            let version = ["s1", "y1", "e1", "s1", "e1", "e2", "e2", "s2", ""].randomElement(using: &random)!
            let count: Int
            switch version {
            case "s1": count = Int.random(in: 0..<6, using: &random) == 0 ? Int.random(in: 0...8, using: &random) : 5
            case "y1": count = Int.random(in: 0..<6, using: &random) == 0 ? Int.random(in: 0...4, using: &random) : 1
            case "e2": count = Int.random(in: 0..<6, using: &random) == 0 ? Int.random(in: 0...9, using: &random) : 6
            default: count = Int.random(in: 0..<6, using: &random) == 0 ? Int.random(in: 0...4, using: &random) : 2
            }
            var fields = [version]
            for k in 0..<count {
                switch (version, k) {
                case ("s1", 0): fields.append(Bool.random(using: &random) ? asset : words.randomElement(using: &random)!)
                case ("e1", 1), ("e2", 1): fields.append(Bool.random(using: &random) ? "ep_x" : words.randomElement(using: &random)!)
                case ("e2", 2): fields.append(Bool.random(using: &random) ? asset : words.randomElement(using: &random)!)
                case ("e2", 3): fields.append(["", "open", "closed", "shut"].randomElement(using: &random)!)
                case ("e2", 4), ("e2", 5): fields.append(Bool.random(using: &random) ? "" : number(using: &random))
                case ("s1", 1), ("s1", 2): fields.append(Bool.random(using: &random) ? "" : number(using: &random))
                default: fields.append(number(using: &random))
                }
            }
            return base64url(Array(fields.joined(separator: "|").utf8))
        }
    }

    /// A `/models` page token: base64url JSON with offsets past `Int`, negative, or not numbers.
    static func pageToken(using random: inout some RandomNumberGenerator) -> String {
        if Int.random(in: 0..<4, using: &random) == 0 { return ["", "!!", "e30", String(repeating: "A", count: 5000)].randomElement(using: &random)! }
        let runs = number(using: &random), models = number(using: &random)
        let json = #"{"runs":"\#(runs)","models":"\#(models)","runsDone":\#(Bool.random(using: &random)),"modelsDone":\#(Bool.random(using: &random))}"#
        return base64url(Array(json.utf8))
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func escape(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    /// What the parsers did with one input's query values: how many were accepted and refused,
    /// and the first broken rule, if any.
    public struct Outcome: Sendable {
        public var accepted = 0
        public var refused = 0
        public var violation: String?
    }

    /// `uri`'s cursor and time and number values through the parsers the routes use
    /// (`PageCursor`, `AnomalyController.range`, `AnomalyController.number`), and each accepted
    /// value through the conversions the stores make: an accepted time must lie in
    /// `ISO8601.accepted`, an accepted cursor must survive encoding again. A trap is found by the
    /// process dying.
    public static func check(_ uri: String) -> Outcome {
        var outcome = Outcome()
        let query = URI(uri).queryParameters
        func tally(_ ok: Bool) { if ok { outcome.accepted += 1 } else { outcome.refused += 1 } }
        for (key, raw) in query {
            let value = String(raw)
            switch String(key) {
            case "cursor":
                guard let cursor = PageCursor(value) else {
                    tally(false)
                    continue
                }
                tally(true)
                var times: [Int64] = []
                switch cursor {
                case .scores(_, let since, let until, let micros, _): times = [since, until, micros].compactMap { $0 }
                case .episodes(let micros, _, let filters): times = [micros, filters?.from, filters?.to].compactMap { $0 }
                case .sync: break
                }
                for micros in times {
                    // What the stores do with it: back to a Date, to microseconds, to text.
                    let date = Keyset.date(micros: micros)
                    if !ISO8601.acceptedMicros.contains(micros) || abs(Keyset.micros(date) - micros) > 1000 || ModelInfo.timestamp(date).isEmpty {
                        outcome.violation = outcome.violation ?? "cursor \(value) carries a time outside the accepted years: \(micros)"
                    }
                }
                if PageCursor(cursor.encoded) != cursor { outcome.violation = outcome.violation ?? "cursor \(value) does not survive encoding" }
            case "from", "to":
                var details: [APIError.Detail] = []
                let range = AnomalyController.range(query, &details)
                let date = key == "from" ? range.from : range.to
                tally(date != nil)
                if let date, !ISO8601.accepted.contains(date) || ModelInfo.timestamp(date).utf8.count != 24 {
                    outcome.violation = outcome.violation ?? "\(key)=\(value.prefix(80)) accepted outside the accepted years"
                }
            case "hours", "limit", "after", "max_results":
                var details: [APIError.Detail] = []
                let number = QueryValue.number(value, field: String(key), range: 0...9e15, default: 1, &details)
                tally(details.isEmpty)
                if details.isEmpty, !(number.isFinite && (0...9e15).contains(number)) {
                    outcome.violation = outcome.violation ?? "\(key)=\(value.prefix(80)) accepted as \(number)"
                }
            case "page_token":
                tally((try? ListToken(decoding: value)) != nil)
            default:
                tally(true)
            }
        }
        return outcome
    }
}
