import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import InferenceAPI

@Suite("JSON logs")
struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [[String: String]] {
            lines.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        }
    }

    /// Every line a request writes is one JSON object carrying the request id the client sent.
    @Test func testEveryLineOfARequestIsJSONWithItsRequestID() async throws {
        let lines = Lines()
        let logger = Logger(label: "inference-api") { JSONLogHandler(label: $0, level: .debug, sink: lines.append) }
        var configuration = TestApp.configuration()
        configuration.logLevel = .debug
        let app = try await buildApplication(configuration: configuration, logger: logger)
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/models/activate", method: .post, headers: [.contentType: "application/json", .init("X-Request-ID")!: "req-42"],
                body: ByteBuffer(string: #"{"run_id": "ffffffffffffffffffffffffffffffff"}"#))
            #expect(response.status == .notFound)
        }
        let parsed = lines.all
        #expect(parsed.count == lines.lines.withLock { $0.count }, "every line is a JSON object")
        let request = parsed.filter { $0["request_id"] == "req-42" }
        #expect(!request.isEmpty)
        #expect(request.contains { $0["message"] == "activation refused" })
        #expect(request.allSatisfy { $0["level"] != nil && $0["ts"] != nil })
    }

    @Test func testBadLogFormatStopsStartUpNamingTheVariable() {
        let error = #expect(throws: ConfigurationError.self) { try Configuration(environment: ["LOG_FORMAT": "xml"]) }
        #expect(error?.variable == "LOG_FORMAT")
    }

    /// LOG_FORMAT=text: a value a client chose cannot start a line of its own.
    @Test func testTextLinesEscapeControlCharacters() {
        let lines = Lines()
        let logger = Logger(label: "inference-api") { LineLogHandler(label: $0, level: .info, format: .text, sink: lines.append) }
        logger.notice("activation refused", metadata: ["reference": "abc\n2026-12-02T00:00:00Z critical inference-api: forged", "hb.request.id": "r-1"])
        let written = lines.lines.withLock { $0 }
        #expect(written.count == 1 && !written[0].contains("\n"), "\(written)")
        #expect(written[0].contains(#"reference="abc\n2026-12-02T00:00:00Z critical inference-api: forged""#))
        #expect(written[0].contains("request_id=r-1") && written[0].contains(" notice inference-api: activation refused "))
        #expect(LineLogHandler.escaped("a\u{7}b\\c\u{2028}") == #"a\u{7}b\\c\u{2028}"#)
    }

    /// A value with ` reason=x` in it once added a field to its line; quoted, it stays one value.
    @Test func testTextValuesCannotAddFields() {
        let lines = Lines()
        let logger = Logger(label: "inference-api") { LineLogHandler(label: $0, level: .info, format: .text, sink: lines.append) }
        logger.warning("model m=1 refused", metadata: ["model_uri": "runs:/x reason=forged \"q\"", "empty": "", "plain": "ok"])
        let line = lines.lines.withLock { $0 }.first ?? ""
        #expect(line.hasSuffix(#" warning inference-api: "model m=1 refused" empty="" model_uri="runs:/x reason=forged \"q\"" plain=ok"#), "\(line)")
        // Every field read back as logfmt reads it: the keys are the three logged, no more.
        var keys: [String] = []
        var rest = Substring(line.split(separator: "\"", maxSplits: 2).last ?? "")
        while let equals = rest.firstIndex(of: "=") {
            keys.append(rest[..<equals].trimmingCharacters(in: .whitespaces))
            rest = rest[rest.index(after: equals)...]
            if rest.first == "\"" {
                var i = rest.index(after: rest.startIndex)
                while i < rest.endIndex, rest[i] != "\"" { i = rest[i] == "\\" ? rest.index(i, offsetBy: 2) : rest.index(after: i) }
                rest = rest[rest.index(after: min(i, rest.index(before: rest.endIndex)))...]
            } else {
                rest = rest.drop { $0 != " " }
            }
        }
        #expect(keys == ["empty", "model_uri", "plain"], "\(keys)")
    }
}
