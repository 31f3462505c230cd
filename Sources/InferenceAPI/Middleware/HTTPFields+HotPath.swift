import HTTPTypes

/// A field read and written on every request without `HTTPFields`' String subscript, whose getter
/// joins the values of every lookup and whose setter goes through a generic replace (perf of a
/// 1-reading `/predict`, BENCHMARKS.md "Issue 29 items 1-2 (stop 44)").
extension HTTPFields {
    /// `self[name]` without building a string when the field is there once: `HTTPFields` joins
    /// the values of every lookup (`joined(separator:)`, a new `String`), 1.2 µs per present field
    /// in perf of a 1-reading `/predict`. A repeated field still gets the joined value.
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if found != nil { return self[name] }
            found = field.value
        }
        return found
    }

    /// `self[name] = value`, appended when the field is absent: the subscript's setter replaces
    /// through a generic path that cost about 0.5 µs a field on every answer (perf).
    mutating func put(_ name: HTTPField.Name, _ value: String) {
        if contains(name) { self[name] = value } else { append(HTTPField(name: name, value: value)) }
    }
}
