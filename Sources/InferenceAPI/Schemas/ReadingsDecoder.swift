import Foundation

/// Decodes a `/predict` body, `{"readings": [{<feature>: number, ..., "module_id"?, "timestamp"?}]}`,
/// straight into a row-major `Double` matrix in the model's feature order.
///
/// Why hand-written: Foundation's `JSONDecoder` builds a dictionary per reading, and at 1000
/// readings a request that is nearly all of the request's cost (`make bench`'s profile). This
/// decoder knows the feature names up front, writes numbers into their column as it reads them,
/// and still reports every problem with the reading index and field, so a dashboard developer can
/// act on the answer. Numbers convert exactly as Python's `json` does (correctly rounded).
///
/// Safe on any input: every read is bounds-checked, nesting is limited, and the reading count is
/// checked against the limit while parsing (413 before the rest of a huge body is looked at).
public struct ReadingsDecoder: Sendable {
    public enum MissingValues: Sendable {
        case reject
        /// Missing or null features become NaN (XGBoost's missing value).
        case nan
        case zero
    }

    /// Decoded readings.
    public struct Readings: Sendable {
        public var count: Int
        /// `count * featureCount` values, row-major, in feature order.
        public var values: [Double]
        /// Per reading, when any reading carried one.
        public var moduleIds: [ModuleID?]?
        public var timestamps: [String?]?
        /// `"explain": true` (every feature) or `{"top": k}`: how many contributions to give per
        /// reading; nil when the body asks for no explanation.
        public var explainTop: Int?
    }

    /// Why a body was refused.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// Not JSON at all: message with the byte offset.
        case syntax(String)
        /// Well-formed JSON that breaks the contract: every problem found (capped).
        case invalid(String, [APIError.Detail])
        /// More readings than the limit.
        case tooMany(limit: Int)

        public var description: String {
            switch self {
            case .syntax(let message): "not JSON: \(message)"
            case .invalid(let message, let details): "\(message) (\(details.count) problems)"
            case .tooMany(let limit): "more than \(limit) readings"
            }
        }
    }

    public let featureNames: [String]
    public let maxReadings: Int
    public let missingValues: MissingValues
    /// Skip top-level keys other than `readings` instead of refusing them (files that carry
    /// more, like the fixture vectors, read by the CLI).
    public var ignoresOtherTopLevelKeys = false
    public static let maxDetails = 100

    /// Feature names to columns, looked up from the body's bytes.
    let keys: FeatureKeyTable

    public init(featureNames: [String], maxReadings: Int, missingValues: MissingValues = .reject) {
        self.featureNames = featureNames
        self.maxReadings = maxReadings
        self.missingValues = missingValues
        self.keys = FeatureKeyTable(featureNames)
    }

    /// Decodes `body`. - Throws: `Failure`.
    public func decode(_ body: UnsafeRawBufferPointer) throws(Failure) -> Readings {
        guard let base = body.baseAddress?.assumingMemoryBound(to: UInt8.self), body.count > 0 else {
            throw .syntax("the body is empty: send {\"readings\": [...]}")
        }
        var parser = Parser(decoder: self, bytes: base, end: body.count)
        do {
            return try parser.parseBody()
        } catch let failure as Failure {
            throw failure
        } catch let syntax as JSONSyntaxError {
            throw .syntax(syntax.message)
        } catch {
            throw .syntax("\(error)")
        }
    }

    public func decode(_ body: [UInt8]) throws(Failure) -> Readings {
        let result: Result<Readings, Failure> = body.withUnsafeBytes { raw in
            do throws(Failure) { return .success(try decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The feature name closest to `key` (edit distance), if close enough to be a likely typo.
    func suggestion(for key: String) -> String? {
        let lowered = key.lowercased()
        var best: (String, Int)?
        for name in featureNames {
            let d = Self.editDistance(lowered, name.lowercased())
            if d < (best?.1 ?? Int.max) { best = (name, d) }
        }
        guard let best, best.1 <= max(2, key.count / 3) else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
