import ComputeSupport
import Foundation
import Testing

@testable import InferenceAPI

/// `JSONWriter` writes `/predict`'s answers by hand (reserved bytes, no `Codable`): what it
/// writes must read back, through Foundation's own JSON parser, as what it was given.
@Suite("JSONWriter")
struct JSONWriterTests {
    /// Reads `text` back as a one-element JSON array.
    func readBack(_ json: JSONWriter) throws -> Any {
        let text = "[" + String(buffer: json.buffer) + "]"
        let array = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [Any])
        return try #require(array.first)
    }

    @Test func testEveryASCIICharacterAndSomeUnicodeReadBackAsWritten() throws {
        var samples = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        samples += ["", "rack-12/module-345", "a\"b\\c", "line\nbreak\r\ttab", "Zürich ⚡ 電池 🔋", String(repeating: "\u{1}\"", count: 40)]
        for sample in samples {
            var json = JSONWriter(capacity: 4)
            json.string(sample)
            #expect(try readBack(json) as? String == sample, "for \(sample.debugDescription): \(String(buffer: json.buffer))")
            var module = JSONWriter(capacity: 4)
            module.string(ModuleID(sample))
            #expect(String(buffer: module.buffer) == String(buffer: json.buffer))
        }
        var control = JSONWriter(capacity: 4)
        control.string("\u{1F}")
        #expect(String(buffer: control.buffer) == "\"\\u001f\"")
    }

    @Test func testIntegersAtTheEdgesAndBetween() throws {
        var generator = SplitMix64(seed: 7)
        var values = [0, 1, -1, 9, 10, -10, 99, 100, Int.max, Int.min, Int.max - 1, Int.min + 1]
        values += (0..<200).map { _ in Int(bitPattern: UInt(generator.next())) >> Int(generator.next() % 63) }
        for value in values {
            var json = JSONWriter(capacity: 1)
            json.int(value)
            #expect(String(buffer: json.buffer) == String(value))
        }
    }

    @Test func testFloatsAreTheirShortestRoundTripTextAndNonFiniteIsNull() throws {
        var generator = SplitMix64(seed: 11)
        var values: [Float] = [0, -0.0, 1, 0.5, 0.00027225688, 0.9997056, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        values += (0..<500).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: generator.next())) }.filter(\.isFinite)
        for value in values {
            var json = JSONWriter(capacity: 1)
            json.float(value)
            let text = String(buffer: json.buffer)
            #expect(text == value.description)
            #expect(Float(text) == value)
        }
        for value: Float in [.nan, .infinity, -.infinity] {
            var json = JSONWriter(capacity: 1)
            json.float(value)
            #expect(String(buffer: json.buffer) == "null")
        }
    }

    @Test func testReservedPiecesInOneReservationReadBackTogether() throws {
        var json = JSONWriter(capacity: 1)
        json.raw("[")
        for index in 0..<300 {
            let module = ModuleID("m\"\(index)\\")
            let bound = 32 + JSONWriter.Reserved.intBound + JSONWriter.Reserved.floatBound + JSONWriter.Reserved.stringBound(module.utf8Count)
            json.reserving(bound) { out in
                out.raw(index > 0 ? ",{\"i\":" : "{\"i\":")
                out.int(-index)
                out.raw(",\"m\":")
                out.string(module)
                out.raw(",\"p\":")
                out.float(Float(index) / 7)
                out.raw("}")
            }
        }
        json.raw("]")
        let rows = try #require(try readBack(json) as? [[String: Any]])
        #expect(rows.count == 300)
        for (index, row) in rows.enumerated() {
            #expect(row["i"] as? Int == -index)
            #expect(row["m"] as? String == "m\"\(index)\\")
            #expect((row["p"] as? NSNumber)?.floatValue == Float(index) / 7)
        }
    }
}
