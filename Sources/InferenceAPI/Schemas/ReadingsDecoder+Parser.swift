import Foundation

extension ReadingsDecoder {
    /// One pass over a body: the shape of `{"readings": [...]}`, each reading's keys and values,
    /// and every problem found, with its reading index and field, over a `JSONLexer`.
    /// Its methods throw `Failure` or the lexer's `JSONSyntaxError`; `decode` maps the latter.
    struct Parser {
        let decoder: ReadingsDecoder
        var lex: JSONLexer
        var details: [APIError.Detail] = []
        var omittedDetails = 0
        static let moduleIdKey = Array("module_id".utf8)
        static let timestampKey = Array("timestamp".utf8)

        init(decoder: ReadingsDecoder, bytes: UnsafePointer<UInt8>, end: Int) {
            self.decoder = decoder
            self.lex = JSONLexer(bytes: bytes, end: end)
        }

        mutating func parseBody() throws -> Readings {
            lex.skipSpace()
            guard lex.peek() == UInt8(ascii: "{") else {
                throw Failure.invalid("the body must be a JSON object: {\"readings\": [...]}", [])
            }
            lex.i += 1
            var readings: Readings?
            var sawReadings = false
            var explainTop: Int?
            var sawExplain = false
            lex.skipSpace()
            if lex.peek() != UInt8(ascii: "}") {
                while true {
                    lex.skipSpace()
                    let key = try lex.parseKey()
                    lex.skipSpace()
                    try lex.expect(UInt8(ascii: ":"))
                    lex.skipSpace()
                    if key == Array("readings".utf8) {
                        if sawReadings { addDetail(field: "readings", problem: "appears twice: a JSON body must not repeat a key") }
                        sawReadings = true
                        if lex.peek() == UInt8(ascii: "[") {
                            readings = try parseReadings()
                        } else {
                            let kind = try lex.skipValue()
                            addDetail(field: "readings", problem: "must be a list of readings, got \(kind)")
                        }
                    } else if key == Array("explain".utf8) {
                        if sawExplain { addDetail(field: "explain", problem: "appears twice: a JSON body must not repeat a key") }
                        sawExplain = true
                        explainTop = try parseExplain()
                    } else {
                        _ = try lex.skipValue()
                        if !decoder.ignoresOtherTopLevelKeys {
                            let name = String(decoding: key, as: UTF8.self)
                            addDetail(field: name, problem: "unknown key: the body has one key, 'readings'")
                        }
                    }
                    lex.skipSpace()
                    if lex.peek() == UInt8(ascii: ",") { lex.i += 1; continue }
                    try lex.expect(UInt8(ascii: "}"))
                    break
                }
            } else {
                lex.i += 1
            }
            lex.skipSpace()
            guard lex.i == lex.end else { throw Failure.syntax("unexpected data after the JSON object at byte \(lex.i)") }
            if !sawReadings {
                addDetail(field: "readings", problem: "is required: send {\"readings\": [{...}, ...]}")
            }
            if let readings, readings.count == 0, details.isEmpty {
                throw Failure.invalid("readings must not be empty", [APIError.Detail(field: "readings", problem: "must contain at least one reading")])
            }
            guard details.isEmpty, var readings else { throw failure() }
            readings.explainTop = explainTop
            return readings
        }

        /// `true` (every feature), `false`, or `{"top": k}` with k in 1...features.
        private mutating func parseExplain() throws -> Int? {
            let width = decoder.featureNames.count
            let problem = "must be true, false or {\"top\": k} with k a whole number in 1...\(width)"
            switch lex.peek() {
            case UInt8(ascii: "t"):
                try lex.literal("true")
                return width
            case UInt8(ascii: "f"):
                try lex.literal("false")
                return nil
            case UInt8(ascii: "{"):
                lex.i += 1
                lex.skipSpace()
                var top: Int?
                if lex.peek() != UInt8(ascii: "}") {
                    while true {
                        lex.skipSpace()
                        let key = try lex.parseKey()
                        lex.skipSpace()
                        try lex.expect(UInt8(ascii: ":"))
                        lex.skipSpace()
                        if key == Array("top".utf8), top == nil, let c = lex.peek(), c &- UInt8(ascii: "0") <= 9 {
                            let value = try lex.parseNumber()
                            top = value == value.rounded() && value >= 1 && value <= Double(width) ? Int(value) : -1
                        } else {
                            _ = try lex.skipValue()
                            top = -1
                        }
                        lex.skipSpace()
                        if lex.peek() == UInt8(ascii: ",") { lex.i += 1; continue }
                        try lex.expect(UInt8(ascii: "}"))
                        break
                    }
                } else {
                    lex.i += 1
                }
                guard let top, top > 0 else {
                    addDetail(field: "explain", problem: problem)
                    return nil
                }
                return top
            default:
                _ = try lex.skipValue()
                addDetail(field: "explain", problem: problem)
                return nil
            }
        }

        private func failure() -> Failure {
            var list = details
            if omittedDetails > 0 {
                list.append(APIError.Detail(problem: "\(omittedDetails) more problems not listed"))
            }
            let total = details.count + omittedDetails
            return .invalid("\(total) problem\(total == 1 ? "" : "s") in the request", list)
        }

        mutating func addDetail(index: Int? = nil, field: String? = nil, problem: String, suggestion: String? = nil) {
            if details.count < ReadingsDecoder.maxDetails {
                details.append(APIError.Detail(index: index, field: field, problem: problem, suggestion: suggestion))
            } else {
                omittedDetails += 1
            }
        }

        private mutating func parseReadings() throws -> Readings {
            let width = decoder.featureNames.count
            lex.i += 1  // [
            var out = Readings(count: 0, values: [], moduleIds: nil, timestamps: nil)
            out.values.reserveCapacity(min(decoder.maxReadings, max(1, (lex.end - lex.i) / max(1, width * 12))) * width)
            var moduleIds: [ModuleID?] = []
            var timestamps: [String?] = []
            var anyModule = false, anyTimestamp = false
            lex.skipSpace()
            if lex.peek() == UInt8(ascii: "]") {
                lex.i += 1
                return out
            }
            // One reading is parsed into `row`, then appended: plain memory in the per-key loop, not
            // an array's uniqueness and bounds checks per value. `seen[f] == row + 1` when feature f
            // was set in the current reading.
            let row = UnsafeMutablePointer<Double>.allocate(capacity: max(1, width))
            let seen = UnsafeMutablePointer<Int>.allocate(capacity: max(1, width))
            seen.initialize(repeating: 0, count: max(1, width))
            defer {
                row.deallocate()
                seen.deallocate()
            }
            while true {
                let index = out.count
                if index >= decoder.maxReadings { throw Failure.tooMany(limit: decoder.maxReadings) }
                out.count += 1
                row.update(repeating: .nan, count: width)
                moduleIds.append(nil)
                timestamps.append(nil)
                lex.skipSpace()
                if lex.peek() == UInt8(ascii: "{") {
                    var module: ModuleID?
                    var timestamp: String?
                    try parseReading(index: index, width: width, row: row, seen: seen, module: &module, timestamp: &timestamp)
                    if let module { moduleIds[index] = module; anyModule = true }
                    if let timestamp { timestamps[index] = timestamp; anyTimestamp = true }
                } else {
                    let kind = try lex.skipValue()
                    addDetail(index: index, problem: "each reading must be an object of feature values, got \(kind)")
                }
                out.values.append(contentsOf: UnsafeBufferPointer(start: row, count: width))
                lex.skipSpace()
                if lex.peek() == UInt8(ascii: ",") { lex.i += 1; continue }
                try lex.expect(UInt8(ascii: "]"))
                break
            }
            if anyModule { out.moduleIds = moduleIds }
            if anyTimestamp { out.timestamps = timestamps }
            return out
        }

        private mutating func parseReading(
            index row: Int, width: Int, row values: UnsafeMutablePointer<Double>, seen: UnsafeMutablePointer<Int>,
            module: inout ModuleID?, timestamp: inout String?
        ) throws {
            lex.i += 1  // {
            let stamp = row + 1
            lex.skipSpace()
            if lex.peek() == UInt8(ascii: "}") {
                lex.i += 1
            } else {
                while true {
                    lex.skipSpace()
                    let (keyStart, keyLength, escaped) = try lex.scanString()
                    let column = escaped
                        ? decoder.keys.column(named: lex.unescape(keyStart, keyLength)) ?? -1
                        : decoder.keys.column(of: lex.bytes + keyStart, length: keyLength) ?? -1
                    if column < 0 {
                        lex.skipSpace()
                        try lex.expect(UInt8(ascii: ":"))
                        lex.skipSpace()
                        try parseExtra(keyStart: keyStart, keyLength: keyLength, escaped: escaped, row: row, module: &module, timestamp: &timestamp)
                        lex.skipSpace()
                        if lex.peek() == UInt8(ascii: ",") { lex.i += 1; continue }
                        try lex.expect(UInt8(ascii: "}"))
                        break
                    }
                    lex.skipSpace()
                    try lex.expect(UInt8(ascii: ":"))
                    lex.skipSpace()
                    if seen[column] == stamp {
                        addDetail(index: row, field: decoder.featureNames[column], problem: "appears twice in this reading")
                    }
                    seen[column] = stamp
                    // The common case inline: a number (not -Infinity).
                    if let c = lex.peek(), c &- UInt8(ascii: "0") <= 9 || (c == UInt8(ascii: "-") && lex.peekAt(1) != UInt8(ascii: "I")) {
                        let value = try lex.parseNumber()
                        if value.isFinite {
                            values[column] = value
                        } else {
                            addDetail(index: row, field: decoder.featureNames[column], problem: "is out of range for a double")
                        }
                    } else {
                        try parseFeatureValue(row: row, column: column, into: &values[column])
                    }
                    lex.skipSpace()
                    if lex.peek() == UInt8(ascii: ",") { lex.i += 1; continue }
                    try lex.expect(UInt8(ascii: "}"))
                    break
                }
            }
            for column in 0..<width where seen[column] != stamp {
                switch decoder.missingValues {
                case .reject:
                    addDetail(index: row, field: decoder.featureNames[column], problem: "is missing")
                case .nan: values[column] = .nan
                case .zero: values[column] = 0
                }
            }
        }

        private mutating func parseFeatureValue(row: Int, column: Int, into slot: inout Double) throws {
            guard let c = lex.peek() else { throw Failure.syntax("unexpected end of the body") }
            if c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                if c == UInt8(ascii: "-"), lex.peekAt(1) == UInt8(ascii: "I") {
                    try lex.literal("-Infinity")
                    addDetail(index: row, field: decoder.featureNames[column], problem: "must be a finite number, got -Infinity")
                    return
                }
                let value = try lex.parseNumber()
                if value.isFinite {
                    slot = value
                } else {
                    addDetail(index: row, field: decoder.featureNames[column], problem: "is out of range for a double")
                }
                return
            }
            if c == UInt8(ascii: "n") {
                try lex.literal("null")
                switch decoder.missingValues {
                case .reject:
                    addDetail(index: row, field: decoder.featureNames[column], problem: "is null (MISSING_VALUES=reject)")
                case .nan: slot = .nan
                case .zero: slot = 0
                }
                return
            }
            if c == UInt8(ascii: "N") || c == UInt8(ascii: "I") {
                let word = c == UInt8(ascii: "N") ? "NaN" : "Infinity"
                try lex.literal(word)
                addDetail(index: row, field: decoder.featureNames[column], problem: "must be a finite number, got \(word)")
                return
            }
            let kind = try lex.skipValue()
            addDetail(index: row, field: decoder.featureNames[column], problem: "must be a number, got \(kind)")
        }

        /// `module_id`, `timestamp`, or an unknown key. The two known keys are recognised from their
        /// bytes: they ride on most readings, and making a `String` of each key cost as much as
        /// the reading's 30 numbers.
        private mutating func parseExtra(
            keyStart: Int, keyLength: Int, escaped: Bool, row: Int, module: inout ModuleID?, timestamp: inout String?
        ) throws {
            // An escaped key (`"module\u005fid"`) is compared unescaped.
            let escapedKey = escaped ? lex.unescape(keyStart, keyLength) : nil
            let isModule = escapedKey.map { $0 == Self.moduleIdKey } ?? lex.equal(keyStart, keyLength, Self.moduleIdKey)
            let isTimestamp = !isModule && (escapedKey.map { $0 == Self.timestampKey } ?? lex.equal(keyStart, keyLength, Self.timestampKey))
            if isModule || isTimestamp {
                let name = isModule ? "module_id" : "timestamp"
                if isModule ? module != nil : timestamp != nil {
                    addDetail(index: row, field: name, problem: "appears twice in this reading")
                }
                if lex.peek() == UInt8(ascii: "\"") {
                    let (start, length, escaped) = try lex.scanString()
                    if escaped {
                        let text = lex.unescape(start, length)
                        if isModule {
                            module = text.withUnsafeBufferPointer { ModuleID(utf8: $0) }
                        } else {
                            timestamp = String(decoding: text, as: UTF8.self)
                        }
                    } else {
                        let text = UnsafeBufferPointer(start: lex.bytes + start, count: length)
                        if isModule { module = ModuleID(utf8: text) } else { timestamp = String(decoding: text, as: UTF8.self) }
                    }
                } else if lex.peek() == UInt8(ascii: "n") {
                    try lex.literal("null")
                } else {
                    let kind = try lex.skipValue()
                    addDetail(index: row, field: name, problem: "must be a string, got \(kind)")
                }
                return
            }
            let key = escapedKey ?? Array(UnsafeBufferPointer(start: lex.bytes + keyStart, count: keyLength))
            let name = String(decoding: key, as: UTF8.self)
            _ = try lex.skipValue()
            addDetail(
                index: row, field: name, problem: "unknown key: not a feature of the served model",
                suggestion: decoder.suggestion(for: name))
        }
    }
}
