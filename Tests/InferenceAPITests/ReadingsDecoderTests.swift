import ComputeSupport
import Foundation
import Storage
import Testing

@testable import InferenceAPI

@Suite("ReadingsDecoder")
struct ReadingsDecoderTests {
    static let names = ["surface_temp_c", "pack_voltage_v", "soc_pct"]
    let decoder = ReadingsDecoder(featureNames: Self.names, maxReadings: 5)

    func decode(_ text: String, _ decoder: ReadingsDecoder? = nil) throws(ReadingsDecoder.Failure) -> ReadingsDecoder.Readings {
        try (decoder ?? self.decoder).decode(Array(text.utf8))
    }

    func details(_ text: String, _ decoder: ReadingsDecoder? = nil) -> [APIError.Detail] {
        do {
            _ = try decode(text, decoder)
            Issue.record("expected a validation failure for \(text)")
        } catch {
            if case .invalid(_, let details) = error { return details }
            Issue.record("expected .invalid, got \(error)")
        }
        return []
    }

    @Test func testDecodesFeaturesInAnyKeyOrderIntoFeatureColumns() throws {
        let readings = try decode(
            #"{"readings": [{"soc_pct": 81.5, "surface_temp_c": 25, "pack_voltage_v": -3.5e2, "module_id": "M-7", "timestamp": "2026-11-22T10:00:00Z"}, {"pack_voltage_v": 1E-3, "soc_pct": 0, "surface_temp_c": 0.1}]}"#)
        #expect(readings.count == 2)
        #expect(readings.values == [25, -350, 81.5, 0.1, 0.001, 0])
        #expect(readings.moduleIds == ["M-7", nil])
        #expect(readings.timestamps == ["2026-11-22T10:00:00Z", nil])
    }

    @Test func testNumbersConvertExactlyAsCorrectlyRoundedParsing() throws {
        var generator = SystemRandomNumberGenerator()
        var texts: [String] = ["0.1", "1e22", "1e23", "9007199254740993", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308",
                               "123456789012345678901234567890", "0.30000000000000004", "-0.0", "3.141592653589793238462643383279",
                               "0.00000000000000000001234", "0.0000000000000000000000000001", "1234567890123456789.5", "9007199254740992.0",
                               "0.1e-22", "123e-22", "9007199254740993e-22", "1e-22", "100000000000000000000000e-22"]
        for _ in 0..<2000 {
            let value = Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF)
            texts.append("\(value)")
            texts.append(String(format: "%.17g", Double.random(in: -1000...1000)))
            texts.append(String(format: "%.6f", Double.random(in: -100...100)))
        }
        let one = ReadingsDecoder(featureNames: ["x"], maxReadings: 1)
        for text in texts where !text.contains("inf") && !text.contains("nan") {
            let json = text.contains("e") || text.contains(".") || text.contains("-") || Int(text) != nil ? text : "0"
            let decoded = try decode("{\"readings\":[{\"x\":\(json)}]}", one).values[0]
            let expected = strtod(json, nil)
            #expect(decoded.bitPattern == expected.bitPattern, "\(json)")
        }
    }

    /// The key table compares a key's length and first and last 8 bytes, then the middle a
    /// word at a time: names that share all but their middle, and lengths around 8 and 16,
    /// must still land in their own columns, in any order.
    @Test func testKeysSharingTheirEdgesLandInTheirOwnColumns() throws {
        let names = [
            "a", "ab", "soc", "soc_pct", "abcdefgh", "abcdefghi", "abcdefgh_Xijklmno", "abcdefgh_Yijklmno",
            "0123456789abcdef", "0123456789abcdeg", "head_of_key_MIDDLE_one_tail_key", "head_of_key_MIDDLE_two_tail_key",
            "twenty_four_bytes_name_x", "twenty_four_bytes_name_y", String(repeating: "z", count: 40),
        ]
        let decoder = ReadingsDecoder(featureNames: names, maxReadings: 100)
        var generator = SplitMix64(seed: 7)
        var rows: [String] = []
        var expected: [Double] = []
        for row in 0..<20 {
            var order = Array(names.indices)
            for k in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(k, Int(generator.next() % UInt64(k + 1))) }
            rows.append("{" + order.map { "\"\(names[$0])\": \(row * 100 + $0)" }.joined(separator: ", ") + "}")
            expected += names.indices.map { Double(row * 100 + $0) }
        }
        let readings = try decoder.decode(Array("{\"readings\": [\(rows.joined(separator: ","))]}".utf8))
        #expect(readings.values == expected)

        // Same length and edges as a feature, another middle: unknown, not that feature.
        let unknown = #"{"readings": [{"abcdefgh_Zijklmno": 1}]}"#
        do {
            _ = try decoder.decode(Array(unknown.utf8))
            Issue.record("an unknown key was taken for a feature")
        } catch {
            guard case .invalid(_, let details) = error else { Issue.record("\(error)"); return }
            #expect(details.contains(.init(index: 0, field: "abcdefgh_Zijklmno", problem: "unknown key: not a feature of the served model", suggestion: "abcdefgh_Xijklmno")))
        }
    }

    /// Strings are skipped 8 bytes at a time: a quote, an escape or a control character at any
    /// offset in the word, or the end of the body inside one, must be found where it is.
    @Test func testStringsStopAtQuotesEscapesAndControlCharactersAtEveryOffset() throws {
        for offset in 0..<20 {
            let prefix = String(repeating: "m", count: offset)
            let escaped = try decode(#"{"readings": [{"surface_temp_c": 1, "pack_voltage_v": 2, "soc_pct": 3, "module_id": "\#(prefix)\"q\\é😀"}]}"#)
            #expect(escaped.moduleIds == [ModuleID(prefix + "\"q\\é😀")])

            let body = #"{"readings": [{"module_id": "\#(prefix)\#u{01}x"}]}"#
            let controlAt = Array(body.utf8).firstIndex(of: 0x01)!
            do {
                _ = try decode(body)
                Issue.record("a control character in a string was accepted")
            } catch {
                guard case .syntax(let message) = error else { Issue.record("\(error)"); continue }
                #expect(message == "control character in a string at byte \(controlAt)")
            }

            let open = #"{"readings": [{"module_id": ""#
            do {
                _ = try decode(open + prefix)
                Issue.record("an unterminated string was accepted")
            } catch {
                guard case .syntax(let message) = error else { Issue.record("\(error)"); continue }
                #expect(message == "unterminated string starting at byte \(open.utf8.count - 1)")
            }
        }
    }

    @Test func testMissingFeatureIsListedPerReading() {
        let found = details(#"{"readings": [{"surface_temp_c": 1, "pack_voltage_v": 2}, {"soc_pct": 3}]}"#)
        #expect(found.contains(.init(index: 0, field: "soc_pct", problem: "is missing")))
        #expect(found.contains(.init(index: 1, field: "surface_temp_c", problem: "is missing")))
        #expect(found.contains(.init(index: 1, field: "pack_voltage_v", problem: "is missing")))
        #expect(found.count == 3)
    }

    @Test func testUnknownKeySuggestsTheClosestFeature() {
        let found = details(#"{"readings": [{"surface_temp_c": 1, "pack_voltage_v": 2, "soc_pct": 3, "surfce_temp_c": 4}]}"#)
        #expect(found.count == 1)
        #expect(found.first?.field == "surfce_temp_c")
        #expect(found.first?.suggestion == "surface_temp_c")
    }

    @Test(arguments: [
        (#""25""#, "must be a number, got a string"), ("true", "must be a number, got a boolean"),
        ("[1]", "must be a number, got a list"), (#"{"v": 1}"#, "must be a number, got an object"),
        ("null", "is null (MISSING_VALUES=reject)"), ("NaN", "must be a finite number, got NaN"),
        ("Infinity", "must be a finite number, got Infinity"), ("-Infinity", "must be a finite number, got -Infinity"),
        ("1e999", "is out of range for a double"),
    ])
    func testNonNumberValuesAreRefusedWithTheirKind(value: String, problem: String) {
        let found = details(#"{"readings": [{"surface_temp_c": \#(value), "pack_voltage_v": 2, "soc_pct": 3}]}"#)
        #expect(found == [.init(index: 0, field: "surface_temp_c", problem: problem)])
    }

    @Test func testMissingValuePoliciesFillNaNOrZero() throws {
        let body = #"{"readings": [{"surface_temp_c": null, "soc_pct": 3}]}"#
        let nan = try decode(body, ReadingsDecoder(featureNames: Self.names, maxReadings: 5, missingValues: .nan))
        #expect(nan.values[0].isNaN && nan.values[1].isNaN && nan.values[2] == 3)
        let zero = try decode(body, ReadingsDecoder(featureNames: Self.names, maxReadings: 5, missingValues: .zero))
        #expect(zero.values == [0, 0, 3])
    }

    @Test func testEmptyAndNonListReadingsAreRefused() {
        #expect(details(#"{"readings": []}"#).first?.problem == "must contain at least one reading")
        #expect(details(#"{"readings": {"a": 1}}"#).first?.problem == "must be a list of readings, got an object")
        #expect(details(#"{"readings": 3}"#).first?.problem == "must be a list of readings, got a number")
        #expect(details(#"{}"#).first?.field == "readings")
        #expect(details(#"{"readings": [1]}"#).first?.problem == "each reading must be an object of feature values, got a number")
        #expect(details(#"{"readings": [{"surface_temp_c": 1, "pack_voltage_v": 2, "soc_pct": 3}], "extra": 1}"#).first?.field == "extra")
    }

    @Test func testMoreReadingsThanTheLimitIsTooMany() {
        let one = #"{"surface_temp_c": 1, "pack_voltage_v": 2, "soc_pct": 3}"#
        let body = "{\"readings\": [\(Array(repeating: one, count: 6).joined(separator: ","))]}"
        #expect {
            try decode(body)
        } throws: { error in
            if case ReadingsDecoder.Failure.tooMany(limit: 5) = error { return true }
            return false
        }
    }

    @Test func testDuplicateFeatureIsRefused() {
        let found = details(#"{"readings": [{"surface_temp_c": 1, "surface_temp_c": 2, "pack_voltage_v": 2, "soc_pct": 3}]}"#)
        #expect(found == [.init(index: 0, field: "surface_temp_c", problem: "appears twice in this reading")])
    }

    @Test func testEscapedKeysAreUnescaped() throws {
        let readings = try decode(#"{"readings": [{"surface\u005ftemp_c": 1, "pack_voltage_v": 2, "soc_pct": 3, "module_id": "caf\u00e9 \ud83d\ude00"}]}"#)
        #expect(readings.values == [1, 2, 3])
        #expect(readings.moduleIds == ["café 😀"])
    }

    /// Module ids are kept inline up to 31 bytes and as a `String` beyond; both spell the id back
    /// exactly, compare by content, and an escaped `module_id` key is still the module id.
    @Test func testModuleIdsKeepTheirBytesInlineAndBeyond() throws {
        for length in [0, 1, 15, 16, 30, 31, 32, 33, 200] {
            let id = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            let readings = try decode(#"{"readings": [{"surface_temp_c": 1, "pack_voltage_v": 2, "soc_pct": 3, "module\u005fid": "\#(id)"}]}"#)
            let module = try #require(readings.moduleIds?.first ?? nil)
            #expect(module.string == id)
            #expect(module == ModuleID(id))
            #expect(Set([module, ModuleID(id), ModuleID(id + "x")]).count == 2)
            if length <= 31 {
                guard case .inline = module else { Issue.record("\(length) bytes should be inline"); continue }
            } else {
                guard case .long = module else { Issue.record("\(length) bytes should be a String"); continue }
            }
        }
        // Invalid UTF-8 is repaired, as `String(decoding:)` does.
        let bytes: [UInt8] = [0x6D, 0xFF, 0x6E]
        let repaired = bytes.withUnsafeBufferPointer { ModuleID(utf8: $0) }
        #expect(repaired.string == String(decoding: bytes, as: UTF8.self))
        var json = JSONWriter(capacity: 16)
        json.string(repaired)
        #expect(String(buffer: json.buffer) == "\"m\u{FFFD}n\"")
    }

    @Test func testDetailsAreCappedWithACountOfTheRest() {
        let decoder = ReadingsDecoder(featureNames: Self.names, maxReadings: 1000)
        let body = "{\"readings\": [\(Array(repeating: "{}", count: 50).joined(separator: ","))]}"
        let found = details(body, decoder)
        #expect(found.count == ReadingsDecoder.maxDetails + 1)
        #expect(found.last?.problem == "50 more problems not listed")
    }

    @Test func testArbitraryBytesNeverCrashAndMalformedJSONIsASyntaxError() {
        var generator = SplitMix64(seed: 42)  // AnomalyDetection's seedable generator
        let valid = Array(#"{"readings": [{"surface_temp_c": 1.5e3, "pack_voltage_v": "x\"y", "soc_pct": [1, {"a": null}]}]}"#.utf8)
        var outcomes = 0
        for length in 0...valid.count {
            // Every prefix, and the same with one random byte flipped.
            var bytes = Array(valid.prefix(length))
            if !bytes.isEmpty, generator.next() % 2 == 0 {
                bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            do { _ = try decoder.decode(bytes) } catch { outcomes += 1 }
        }
        for _ in 0..<2000 {
            let bytes = (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            do { _ = try decoder.decode(bytes) } catch { outcomes += 1 }
        }
        #expect(outcomes > 2000, "random input is refused, never accepted wholesale")
        let deep = String(repeating: "[", count: 10_000)
        #expect(throws: ReadingsDecoder.Failure.self) { try decode("{\"readings\": [{\"x\": \(deep)}]}") }
    }
}
