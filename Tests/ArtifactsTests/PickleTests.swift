import Foundation
import Testing

@testable import Artifacts

@Suite("Pickle and joblib decoding")
struct PickleTests {
    static let pickles = Fixtures.url("fixtures/pickles")
    static let marker = "/tmp/pickle-pwned"

    @Test(arguments: [
        ("malicious_os_system.pkl", "posix.system"), ("malicious_eval.pkl", "builtins.eval"),
        ("malicious_popen.pkl", "subprocess.Popen"), ("malicious_inside_scaler.joblib", "posix.system"),
    ])
    func testMaliciousPickleIsRefusedAndNothingRuns(file: String, global: String) throws {
        try? FileManager.default.removeItem(atPath: Self.marker)
        let error = #expect(throws: ArtifactError.self) { try Scaler.load(contentsOf: Self.pickles.appendingPathComponent(file)) }
        #expect(error?.kind == .forbiddenClass)
        #expect(error?.message.contains(global) == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: Self.marker), "the command in the pickle must not have run")
    }

    @Test func testEveryPrefixOfARealFileIsAnErrorNeverACrash() throws {
        for name in ["standard.np2.joblib", "pipeline_standard_minmax.np1.p2.pkl", "minmax_clip.np2.z3.joblib"] {
            let bytes = [UInt8](try Data(contentsOf: Self.pickles.appendingPathComponent(name)))
            #expect(throws: Never.self) { _ = try Joblib.load(bytes: bytes) }
            for length in 0..<bytes.count {
                #expect(throws: ArtifactError.self) { _ = try Scaler.decode(try Joblib.load(bytes: Array(bytes.prefix(length))), path: nil) }
            }
        }
    }

    @Test func testRandomAndMutatedBytesAreErrorsNeverCrashes() throws {
        var rng = SplitMix(seed: 99)
        let real = [UInt8](try Data(contentsOf: Self.pickles.appendingPathComponent("robust.np2.p5.pkl")))
        var refused = 0
        for i in 0..<3000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if i % 4 == 0, !bytes.isEmpty { bytes[0] = 0x80 }
            } else {
                bytes = real
                for _ in 0..<3 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            do { _ = try Scaler.decode(try Joblib.load(bytes: bytes), path: nil) } catch { refused += 1 }
        }
        #expect(refused > 1500)
    }

    @Test func testOtherCompressorsAreRefusedByName() {
        let xz: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2, 3]
        let error = #expect(throws: ArtifactError.self) { try Joblib.load(bytes: xz) }
        #expect(error?.kind == .unsupported)
        #expect(error?.message.contains("lzma") == true)
    }

    @Test func testProtocolTwoBytesAndNumpyScalarsDecode() throws {
        let value = try Joblib.load(contentsOf: Self.pickles.appendingPathComponent("standard.np1.p2.pkl"))
        #expect(value["n_samples_seen_"]?.intValue == 300)
        #expect(value["with_mean"]?.boolValue == true)
        guard case .ndarray(let mean)? = value["mean_"] else {
            Issue.record("mean_ is not an array")
            return
        }
        #expect(mean.shape == [5] && mean.dtype.kind == "f")
    }
}

/// SplitMix64, for repeatable fuzz inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
