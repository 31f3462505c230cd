import ComputeSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import Storage
import Testing

@testable import InferenceAPI

/// How receipts are stored (issue 24: a 780 KB detect answer was kept as a 1.72 MB receipt for
/// 24 h): compressed from 1 KiB, replayed byte for byte, and past `maxStoredBytes` compressed a
/// short note instead of the answer.
@Suite("Idempotency receipts")
struct IdempotencyReceiptTests {
    @Test func testABigDetectIsStoredCompressedAndReplayedByteForByte() async throws {
        let directory = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("store.sqlite").path
        let app = try await buildApplication(configuration: TestApp.configuration { $0.sqlitePath = file })
        let body = try AnomalyRouteTests.json(["asset_id": "bess-big", "samples": try AnomalyRouteTests.series(count: 3000)])
        let answerBytes = try await app.test(.router) { client in
            let first = try await IdempotencyRouteTests.post(client, "/anomaly/detect", body, key: "big-detect-1")
            #expect(first.status == .ok)
            let retry = try await IdempotencyRouteTests.post(client, "/anomaly/detect", body, key: "big-detect-1")
            #expect(retry.status == .ok && retry.headers[Idempotency.replayed] == "true")
            #expect(Data(buffer: retry.body) == Data(buffer: first.body), "the first answer, byte for byte")
            return first.body.readableBytes
        }
        let database = try await SQLiteStoreDatabase.open(path: file, logger: .init(label: "test"))
        let stored = try await database.rows("SELECT length(body) AS n FROM idempotency_keys WHERE key = 'big-detect-1'").first?.column("n")?.integer
        try await database.close()
        let storedBytes = try #require(stored)
        print("idempotency receipt: a \(answerBytes)-byte detect answer stored in \(storedBytes) bytes")
        #expect(answerBytes > 300_000, "a big answer: \(answerBytes) bytes")
        #expect(storedBytes * 4 < answerBytes, "stored compressed: \(storedBytes) of \(answerBytes) bytes")
    }

    @Test func testSmallAnswersAndReceiptsStoredBeforeCompressionReplayAsTheyAre() throws {
        let small = ByteBuffer(string: #"{"stored":3,"run_id":"abc","tenant":"acme"}"#)
        #expect(Idempotency.stored(small) == Array(small.readableBytesView), "under 1 KiB: as is")
        // A receipt written before receipts were compressed: raw JSON of any size.
        let old = Array(String(repeating: #"{"a":1},"#, count: 500).utf8)
        #expect(Array(try Idempotency.answer(stored: old).readableBytesView) == old)
    }

    @Test func testCompressionRoundTripsAndIsTimedForTheOffloadRule() throws {
        var generator = SplitMix64(seed: 5)
        // JSON like a detect answer's: repeated keys, varied numbers.
        var text = "{\"results\":["
        for i in 0..<20_000 {
            text += "{\"timestamp\":\"2026-11-25T10:\(i % 60):00Z\",\"score\":0.\(generator.next() % 1_000_000),\"is_anomaly\":false},"
        }
        text += "{}]}"
        let answer = ByteBuffer(string: text)
        let clock = ContinuousClock()
        var stored: [UInt8] = []
        let compressing = clock.measure { stored = Idempotency.stored(answer) }
        var back = ByteBuffer()
        let inflating = try clock.measure { back = try Idempotency.answer(stored: stored) }
        #expect(back == answer)
        #expect(stored.starts(with: Idempotency.gzipMagic) && stored.count * 3 < answer.readableBytes)
        // The Offload estimates (Offload.Work.compress / .decompress) come from these figures.
        let perByte = { (d: Duration, n: Int) in Double(d.components.attoseconds) / 1e12 / Double(n) + Double(d.components.seconds) * 1e6 / Double(n) }
        print(
            "idempotency receipt: \(answer.readableBytes) bytes compressed to \(stored.count) in \(compressing) (\(String(format: "%.4f", perByte(compressing, answer.readableBytes))) µs a byte), inflated in \(inflating) (\(String(format: "%.4f", perByte(inflating, stored.count))) µs a stored byte)"
        )
    }

    @Test func testAnAnswerTooBigCompressedIsReplacedByANoteAndACorruptReceiptIsAnError() throws {
        // Random bytes do not compress: past maxStoredBytes, the note is stored.
        var generator = SplitMix64(seed: 8)
        var big = ByteBuffer()
        for _ in 0..<((Idempotency.maxStoredBytes + 100_000) / 8) { big.writeInteger(generator.next()) }
        let stored = Idempotency.stored(big)
        #expect(stored.count < 1024)
        let note = try #require(try JSONSerialization.jsonObject(with: Data(stored)) as? [String: String])
        #expect(note["replayed_in_full"] == "false")
        #expect(note["message"]?.contains("\(big.readableBytes) bytes") == true)
        #expect(try Idempotency.answer(stored: stored) == ByteBuffer(bytes: stored))

        let corrupt: [UInt8] = Idempotency.gzipMagic + [8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        #expect(throws: Idempotency.ReceiptUnreadable.self) { try Idempotency.answer(stored: corrupt) }
    }
}
