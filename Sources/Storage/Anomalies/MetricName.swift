import Foundation

/// The one rule for metric names, whatever their source: a detect or train body, EMS Core's
/// metrics pages, a history query's `metric`. Names are stored, echoed in answers and events,
/// and shown on the page, so they are kept to text that needs no escaping anywhere.
public enum MetricName {
    /// The rule in words, for error messages and the README.
    public static let rule = "1-64 ASCII letters, digits, _ . -"

    public static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy(isAllowed)
    }

    /// At most 40 characters of `name` with every character outside the rule as `?`: safe to
    /// put in a message about it.
    public static func excerpt(_ name: String) -> String {
        String(decoding: name.utf8.prefix(40).map { isAllowed($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
            + (name.utf8.count > 40 ? "... (\(name.utf8.count) bytes)" : "")
    }

    private static func isAllowed(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
    }
}
