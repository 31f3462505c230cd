import ArgumentParser
import ComputeSupport
import Foundation
import InferenceAPI

/// `inference-api fuzz-parsers`: the `/predict` and `/anomaly/detect` parsers on a million
/// mutated bodies (`make fuzz`). A seeded mutation fuzzer written here rather than libFuzzer:
/// it needs no sanitizer build of every dependency (a second full build), and the oracle
/// (`ParserFuzzing`) checks more than "no crash": every refusal a 4xx envelope, and the two detect
/// parsers agreeing. Seeds are real bodies from the fixtures; mutations splice JSON tokens, edge
/// numbers, escapes, deep nesting, duplicate keys, truncations and raw bytes into them. Then the
/// cursor and query-value parsers of every route that takes them on generated query strings
/// (`QueryFuzzing`: forged cursors, Int64 bounds, extreme times, NaN and infinity as text).
struct FuzzParsers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz-parsers", abstract: "Fuzz the /predict and /anomaly/detect body parsers and the query parsers (make fuzz).")

    @Option(help: "Inputs to try.") var inputs = 1_000_000
    @Option(help: "Query strings to try on the cursor and query-value parsers.") var queries = 1_000_000
    @Option(help: "Seed of the mutations (printed, so a run can be repeated).") var seed: UInt64 = UInt64(Date().timeIntervalSince1970)
    @Option(help: "A fixture vector whose readings and feature names seed the corpus.") var vector = "fixtures/vectors"
    @Option(help: "Write the inputs that break the contract here.") var failures = "fuzz-failures"

    func run() throws {
        let (names, corpus) = try Self.corpus(vector)
        let fuzzing = ParserFuzzing(featureNames: names)
        var random = SplitMix64(seed: seed)
        var counts: [String: Int] = [:]
        var broken = 0
        let started = Date()
        for i in 0..<inputs {
            let input = Self.mutate(corpus[Int(random.next() % UInt64(corpus.count))], corpus: corpus, random: &random)
            let (predict, detect, infer) = fuzzing.check(input)
            for (route, outcome) in [("predict", predict), ("detect", detect), ("infer", infer)] {
                switch outcome {
                case .accepted: counts["\(route) accepted", default: 0] += 1
                case .refused(let status): counts["\(route) \(status)", default: 0] += 1
                case .violation(let why):
                    broken += 1
                    try FileManager.default.createDirectory(atPath: failures, withIntermediateDirectories: true)
                    let file = "\(failures)/\(route)-\(i).json"
                    try Data(input).write(to: URL(fileURLWithPath: file))
                    print("VIOLATION (\(route), input \(i), saved to \(file)): \(why)")
                }
            }
            if (i + 1) % 100_000 == 0 { print("\(i + 1) inputs, \(broken) violations, \(Int(Date().timeIntervalSince(started))) s") }
        }
        print("seed \(seed): \(inputs) inputs in \(String(format: "%.1f", Date().timeIntervalSince(started))) s, \(broken) violations")
        for (outcome, count) in counts.sorted(by: { $0.key < $1.key }) { print("  \(outcome): \(count)") }
        broken += try fuzzQueries(random: &random)
        if broken > 0 { throw ExitCode.failure }
    }

    /// `queries` generated query strings through the routes' parsers; returns the violations.
    func fuzzQueries(random: inout SplitMix64) throws -> Int {
        let started = Date()
        var accepted = 0, refused = 0, broken = 0
        for i in 0..<queries {
            let uri = QueryFuzzing.input(asset: "router-1", using: &random)
            let outcome = QueryFuzzing.check(uri)
            accepted += outcome.accepted
            refused += outcome.refused
            if let why = outcome.violation {
                broken += 1
                try FileManager.default.createDirectory(atPath: failures, withIntermediateDirectories: true)
                let file = "\(failures)/query-\(i).txt"
                try Data(uri.utf8).write(to: URL(fileURLWithPath: file))
                print("VIOLATION (query, input \(i), saved to \(file)): \(why)")
            }
        }
        print(
            "\(queries) query strings in \(String(format: "%.1f", Date().timeIntervalSince(started))) s, \(broken) violations: "
                + "\(accepted) values accepted, \(refused) refused")
        return broken
    }

    /// Feature names of the first vector, and bodies for both routes built from its readings.
    static func corpus(_ directory: String) throws -> ([String], [[UInt8]]) {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        guard let first = files.first,
            let vector = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(first)"))) as? [String: Any],
            let names = vector["feature_names"] as? [String], let readings = vector["readings"] as? [[String: Any]]
        else { throw ValidationError("no fixture vector with feature_names and readings under \(directory)") }
        var corpus: [[UInt8]] = []
        for count in [1, 2, 5] {
            corpus.append(Array(try JSONSerialization.data(withJSONObject: ["readings": Array(readings.prefix(count))])))
            var explained: [String: Any] = ["readings": Array(readings.prefix(count)), "explain": ["top": 3]]
            explained["module_ids"] = (0..<count).map { "m-\($0)" }
            corpus.append(Array(try JSONSerialization.data(withJSONObject: explained)))
            let samples = (0..<count * 2).map { i in
                ["timestamp": "2026-01-01T00:0\(i % 10):00Z", "metrics": ["cpu_pct": Double(i) * 1.5, "latency_ms": 20.25, "error_count": 0]] as [String: Any]
            }
            corpus.append(Array(try JSONSerialization.data(withJSONObject: ["asset_id": "router-\(count)", "samples": samples, "persist": count == 2])))
        }
        corpus.append(Array(#"{"asset_id":"a","samples":[{"timestamp":"2026-01-01T00:00:00.123+02:00","metrics":{"x":1e-3,"y":-0.0}}]}"#.utf8))
        // Open Inference infer bodies: flat and nested data, FP32 as numpy prints it, outputs asked.
        let row = names.indices.map { 0.1 * Double($0 + 1) }
        for rows in [1, 3] {
            let flat = (0..<rows).flatMap { _ in row.map { Double(Float($0)) } }
            let nested = (0..<rows).map { _ in row }
            corpus.append(Array(try JSONSerialization.data(withJSONObject: [
                "id": "r-\(rows)", "inputs": [["name": "input-0", "shape": [rows, names.count], "datatype": "FP32", "data": flat]],
                "outputs": [["name": "hazard_probability", "parameters": ["binary_data": false]]],
            ])))
            corpus.append(Array(try JSONSerialization.data(withJSONObject: [
                "inputs": [["name": "x", "shape": [rows, names.count], "datatype": "FP64", "data": nested, "parameters": ["content_type": "np"]]],
                "parameters": ["binary_data_output": false],
            ])))
        }
        return (names, corpus)
    }

    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", ",", ":", "\"", "null", "true", "false", "0", "-0", "1e309", "-1e309", "1e-400", "NaN", "Infinity",
        "9007199254740993", "0.1e1", "00", "1.", ".5", "+1", "\\", "\\u0000", "\\ud800", "\\u00e9", "\u{00e9}", "\u{1F600}", "\"readings\"",
        "\"samples\"", "\"asset_id\"", "\"timestamp\"", "\"metrics\"", "\"persist\"", "\"explain\"", "\"module_ids\"", "\"2026-13-40T25:61:61Z\"",
        "\"2026-01-01T00:00:00Z\"", " ", "\n", "\t", "\u{0}", "\u{FEFF}",
    ].map { Array($0.utf8) }

    /// One to four mutations of `seed`.
    static func mutate(_ seed: [UInt8], corpus: [[UInt8]], random: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0...(random.next() % 4) {
            let at = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
            switch random.next() % 10 {
            case 0 where !bytes.isEmpty:  // flip a byte
                bytes[min(at, bytes.count - 1)] = UInt8(truncatingIfNeeded: random.next())
            case 1, 2:  // insert a token
                bytes.insert(contentsOf: tokens[Int(random.next() % UInt64(tokens.count))], at: at)
            case 3 where !bytes.isEmpty:  // delete a range
                let length = Int(random.next() % 16) + 1
                bytes.removeSubrange(min(at, bytes.count - 1)..<min(bytes.count, at + length))
            case 4:  // truncate
                bytes = Array(bytes.prefix(at))
            case 5 where !bytes.isEmpty:  // repeat a range (duplicate keys, long arrays)
                let length = Int(random.next() % 64) + 1
                let range = min(at, bytes.count - 1)..<min(bytes.count, at + length)
                bytes.insert(contentsOf: bytes[range], at: range.upperBound)
            case 6:  // splice another body in
                let other = corpus[Int(random.next() % UInt64(corpus.count))]
                let from = Int(random.next() % UInt64(other.count))
                bytes.insert(contentsOf: other[from...], at: at)
            case 7:  // deep nesting
                let depth = Int(random.next() % 3000)
                bytes.insert(contentsOf: Array(repeating: UInt8(ascii: random.next() % 2 == 0 ? "[" : "{"), count: depth), at: at)
            case 8:  // a long number or string
                let digits = Array(repeating: UInt8(ascii: "9"), count: Int(random.next() % 400) + 1)
                bytes.insert(contentsOf: random.next() % 2 == 0 ? digits : [UInt8(ascii: "\"")] + digits + [UInt8(ascii: "\"")], at: at)
            default:  // raw random bytes
                bytes.insert(contentsOf: (0..<Int(random.next() % 8) + 1).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
            }
        }
        return bytes
    }
}
