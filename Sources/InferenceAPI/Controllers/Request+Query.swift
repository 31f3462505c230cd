import Hummingbird

/// How every controller reads a query value: checked where it is read, a problem added to
/// `details` (the route then answers one 400 naming every bad field).
extension Request {
    /// The query's `field` as a number within `range`, or `value` when absent (also when bad,
    /// after noting it).
    func queryNumber(_ field: String, range: ClosedRange<Double>, default value: Double, _ details: inout [APIError.Detail]) -> Double {
        QueryValue.number(uri.queryParameters[Substring(field)].map(String.init), field: field, range: range, default: value, &details)
    }
}

/// Query values from their text (what `Request.queryNumber` and the query fuzzer share).
enum QueryValue {
    static func number(_ text: String?, field: String, range: ClosedRange<Double>, default value: Double, _ details: inout [APIError.Detail]) -> Double {
        guard let text else { return value }
        guard let v = Double(text), v.isFinite, range.contains(v) else {
            details.append(.init(field: field, problem: "must be a number in \(range.lowerBound)...\(range.upperBound)"))
            return value
        }
        return v
    }
}
