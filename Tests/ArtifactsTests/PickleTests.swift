import ComputeSupport
import Foundation
import Testing

@testable import Artifacts

/// Hand-assembled pickle bytes, opcode by opcode (protocol 4 unless told otherwise).
struct PickleBytes {
    var bytes: [UInt8]

    init(protocol version: UInt8 = 4) { bytes = [0x80, version] }

    mutating func op(_ codes: UInt8...) { bytes += codes }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        bytes += [0x8C, UInt8(utf8.count)] + utf8
    }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    mutating func int(_ value: Int32) { bytes += [0x4A] + withUnsafeBytes(of: value.littleEndian, Array.init) }
    mutating func uint64(_ value: UInt64) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
    /// `numpy.dtype(name)` with its BUILD state.
    mutating func dtype(_ name: String, order: String = "<") {
        global("numpy", "dtype")
        string(name)
        op(0x89, 0x88, 0x87, 0x52)  // NEWFALSE NEWTRUE TUPLE3 REDUCE
        op(0x28, 0x4B, 3)  // MARK BININT1 3
        string(order)
        op(0x4E, 0x4E, 0x4E)
        int(-1)
        int(-1)
        op(0x4B, 0, 0x74, 0x62)  // BININT1 0, TUPLE, BUILD
    }
    /// A joblib `NumpyArrayWrapper` for a 1-D array, BUILT (so array data must follow).
    mutating func arrayWrapper(count: Int32, dtype name: String, alignment: Bool) {
        global("joblib.numpy_pickle", "NumpyArrayWrapper")
        op(0x29, 0x81, 0x7D, 0x28)  // EMPTY_TUPLE NEWOBJ EMPTY_DICT MARK
        string("subclass")
        global("numpy", "ndarray")
        string("shape")
        int(count)
        op(0x85)
        string("order")
        string("C")
        string("dtype")
        dtype(name)
        if alignment {
            string("numpy_array_alignment_bytes")
            op(0x4B, 16)
        }
        op(0x75, 0x62)  // SETITEMS BUILD
    }
    mutating func stop() { op(0x2E) }
}

@Suite("Pickle and joblib decoding")
struct PickleTests {
    static let marker = "/tmp/pickle-pwned"

    static func bytes(_ file: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: PickleFixtures.url(file))) }

    // MARK: - Decoding

    @Test func testDecodesScalarsContainersAndMemo() throws {
        var p = PickleBytes()
        p.op(0x7D, 0x94, 0x28)  // EMPTY_DICT MEMOIZE MARK
        p.op(0x4B, 1)
        p.string("one")  // int key
        p.string("float")
        p.op(0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0)  // BINFLOAT 1.5 (big-endian)
        p.string("negative")
        p.op(0x8A, 2, 0x00, 0x80)  // LONG1 -32768
        p.string("big")
        p.op(0x8A, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1)  // LONG1 2^64 + 1
        p.string("tuple")
        p.op(0x4E, 0x88, 0x89, 0x87)  // (None, True, False)
        p.string("set")
        p.op(0x8F, 0x28, 0x4B, 1, 0x4B, 2, 0x90)  // EMPTY_SET MARK 1 2 ADDITEMS
        p.string("frozen")
        p.op(0x28, 0x4B, 3, 0x91)
        p.string("bytes")
        p.op(0x43, 2, 1, 2)
        p.string("bytearray")
        p.op(0x96)
        p.uint64(1)
        p.op(9)
        p.string("text")
        let accented = Array("héllo".utf8)
        p.op(0x8D)
        p.uint64(UInt64(accented.count))
        p.bytes += accented
        p.string("list")
        p.op(0x5D, 0x72, 7, 0, 0, 0)  // EMPTY_LIST LONG_BINPUT 7
        p.op(0x28, 0x4B, 5, 0x4B, 6, 0x65)  // MARK 5 6 APPENDS
        p.string("same list")
        p.op(0x6A, 7, 0, 0, 0)  // LONG_BINGET 7
        p.string("popped")
        p.op(0x4B, 5, 0x4B, 6, 0x30)  // 5 6 POP
        p.string("dup")
        p.op(0x4B, 4, 0x32, 0x86)  // 4 DUP TUPLE2
        p.op(0x28, 0x4B, 1, 0x4B, 2, 0x31)  // MARK 1 2 POP_MARK
        p.op(0x75)  // SETITEMS
        p.stop()

        let value = try Joblib.load(bytes: p.bytes)
        guard case .dict(let entries) = value else {
            Issue.record("not a dict: \(value)")
            return
        }
        #expect(entries.first == .init(key: .int(1), value: .string("one")))
        #expect(value["float"] == .float(1.5))
        #expect(value["negative"] == .int(-32768))
        #expect(value["big"] == .bigInt([1, 0, 0, 0, 0, 0, 0, 0, 1]))
        #expect(value["tuple"] == .tuple([.none, .bool(true), .bool(false)]))
        #expect(value["set"] == .set([.int(1), .int(2)]))
        #expect(value["frozen"] == .set([.int(3)]))
        #expect(value["bytes"] == .bytes([1, 2]))
        #expect(value["bytearray"] == .bytes([9]))
        #expect(value["text"] == .string("héllo"))
        #expect(value["list"] == .list([.int(5), .int(6)]))
        #expect(value["same list"] == value["list"])
        #expect(value["popped"] == .int(5))
        #expect(value["dup"] == .tuple([.int(4), .int(4)]))
        #expect(entries.count == 14)
    }

    @Test(arguments: [true, false])
    func testJoblibArrayDataFollowsTheWrapperAfterItsPadding(aligned: Bool) throws {
        var p = PickleBytes()
        p.arrayWrapper(count: 2, dtype: "f8", alignment: aligned)
        if aligned { p.op(3, 0xFF, 0xFF, 0xFF) }  // padding length, then padding
        for value in [1.5, -2.0] { p.uint64(value.bitPattern) }
        p.stop()
        let value = try Joblib.load(bytes: p.bytes)
        #expect(value == .ndarray(NDArray(dtype: DType(.float64), shape: [2], elements: .float([1.5, -2]))))
    }

    @Test func testProtocolTwoBytesAndNumpyScalarsDecode() throws {
        let value = try Joblib.load(contentsOf: PickleFixtures.url("standard.np1.p2.pkl"))
        #expect(value["n_samples_seen_"] == .int(200))
        #expect(value["with_mean"] == .bool(true))
        guard case .ndarray(let mean)? = value["mean_"] else {
            Issue.record("mean_ is not an array")
            return
        }
        #expect(mean.shape == [5] && mean.dtype.kind == .float64)
    }

    @Test func testNumpyOneAndTwoModuleNamesBothDecode() throws {
        let np1 = try Self.bytes("standard.np1.p2.pkl"), np2 = try Self.bytes("standard.np2.p2.pkl")
        #expect(np1.firstRange(of: Array("numpy.core.multiarray".utf8)) != nil)
        #expect(np2.firstRange(of: Array("numpy._core.multiarray".utf8)) != nil)
        let fixtures = try PickleFixtures.load()
        #expect(try Scaler.decode(try Joblib.load(bytes: np1), path: nil).featureNames == fixtures.columns)
        #expect(try Scaler.decode(try Joblib.load(bytes: np2), path: nil).featureNames == fixtures.columns)
    }

    // MARK: - Refusals

    @Test(arguments: PickleFixtures.refusedFiles)
    func testRefusedFixtureNamesItsCulpritAndRunsNothing(file: String) throws {
        let refusal = try #require(try PickleFixtures.load().refused[file])
        try? FileManager.default.removeItem(atPath: Self.marker)
        let error = #expect(throws: ArtifactError.self) { try Scaler.load(contentsOf: PickleFixtures.url(file)) }
        #expect(error?.kind.rawValue == refusal.kind, "\(file): \(String(describing: error))")
        #expect(error?.message.contains(refusal.names) == true, "\(file): \(String(describing: error))")
        #expect(error?.path?.hasSuffix(file) == true)
        #expect(!FileManager.default.fileExists(atPath: Self.marker), "\(file) ran its command")
    }

    @Test func testMaliciousFilesLeaveNoTraceOnDisk() throws {
        try? FileManager.default.removeItem(atPath: Self.marker)
        for file in PickleFixtures.refusedFiles where file.hasPrefix("malicious") {
            _ = try? Scaler.load(contentsOf: PickleFixtures.url(file))
            _ = try? Joblib.load(contentsOf: PickleFixtures.url(file))
        }
        #expect(PickleFixtures.refusedFiles.filter { $0.hasPrefix("malicious") }.count >= 4)
        #expect(!FileManager.default.fileExists(atPath: Self.marker))
    }

    @Test func testAGlobalIsRefusedAsSoonAsItIsNamed() {
        var p = PickleBytes(protocol: 2)
        p.global("os", "system")
        p.op(0xFF, 0xFF)  // never reached
        let error = #expect(throws: ArtifactError.self) { try Joblib.load(bytes: p.bytes) }
        #expect(error?.kind == .forbiddenClass)
        #expect(error?.message.contains("'os.system'") == true)
    }

    @Test func testWhitelistedNamesCannotBeCalledOutsideTheirRecipes() {
        func refusal(_ build: (inout PickleBytes) -> Void) -> ArtifactError? {
            var p = PickleBytes()
            build(&p)
            p.stop()
            return #expect(throws: ArtifactError.self) { try Joblib.load(bytes: p.bytes) }
        }
        // numpy.ndarray(...) called directly
        #expect(refusal { $0.global("numpy", "ndarray"); $0.op(0x29, 0x52) }?.kind == .forbiddenClass)
        // _codecs.encode with anything but latin-1
        #expect(refusal { $0.global("_codecs", "encode"); $0.string("x"); $0.string("rot13"); $0.op(0x86, 0x52) }?.kind == .forbiddenClass)
        // numpy.dtype instantiated with NEWOBJ
        #expect(refusal { $0.global("numpy", "dtype"); $0.op(0x29, 0x81) }?.kind == .forbiddenClass)
        // copyreg._reconstructor with a class off the whitelist: refused at the class's name
        let reconstructed = refusal { $0.global("copy_reg", "_reconstructor"); $0.global("posix", "system") }
        #expect(reconstructed?.kind == .forbiddenClass && reconstructed?.message.contains("posix.system") == true)
        // REDUCE of a plain value
        #expect(refusal { $0.string("os.system"); $0.op(0x29, 0x52) }?.kind == .malformed)
    }

    @Test func testOtherCompressorsAndFormatsAreRefusedByName() {
        for (magic, name) in [([0x04, 0x22, 0x4D, 0x18, 0x00], "lz4"), (Array("ZF0x".utf8), "zfile"), ([0xFD, 0x37, 0x7A, 0x58, 0x5A], "xz")] {
            let error = #expect(throws: ArtifactError.self) { try Joblib.load(bytes: magic) }
            #expect(error?.kind == .unsupported)
            #expect(error?.message.contains(name) == true, "\(String(describing: error))")
        }
    }

    @Test func testUnsupportedPicklesAreSaidToBeUnsupported() {
        var outOfBand = PickleBytes(protocol: 5)
        outOfBand.op(0x97)
        var protocol6 = PickleBytes(protocol: 6)
        protocol6.stop()
        for bytes in [outOfBand.bytes, protocol6.bytes] {
            #expect((#expect(throws: ArtifactError.self) { try Joblib.load(bytes: bytes) })?.kind == .unsupported)
        }
        var unicode = PickleBytes()
        unicode.arrayWrapper(count: 1, dtype: "U8", alignment: false)
        let error = #expect(throws: ArtifactError.self) { try Joblib.load(bytes: unicode.bytes) }
        #expect(error?.kind == .unsupported && error?.message.contains("U8") == true)
    }

    // MARK: - Hostile and broken input

    @Test func testHostileStructuresAreRefused() {
        var deep = PickleBytes()
        deep.op(0x4E)
        deep.bytes += [UInt8](repeating: 0x85, count: 300_000)  // TUPLE1 around TUPLE1 ...
        deep.stop()

        var laughs = PickleBytes()  // each list holds the previous one twice: 2^40 leaves
        laughs.op(0x5D, 0x94)
        for level in 0..<40 {
            laughs.op(0x28, 0x6A)
            laughs.bytes += withUnsafeBytes(of: UInt32(level).littleEndian, Array.init)
            laughs.op(0x6A)
            laughs.bytes += withUnsafeBytes(of: UInt32(level).littleEndian, Array.init)
            laughs.op(0x6C, 0x94)
        }
        laughs.stop()

        var recursive = PickleBytes()
        recursive.op(0x5D, 0x94, 0x68, 0, 0x61)  // l = []; l.append(l)
        recursive.stop()

        var hugeBytes = PickleBytes()
        hugeBytes.op(0x8E)
        hugeBytes.uint64(.max / 2)
        var hugeFrame = PickleBytes()
        hugeFrame.op(0x95)
        hugeFrame.uint64(1 << 40)
        var negativeLong = PickleBytes()
        negativeLong.op(0x8B, 0xFF, 0xFF, 0xFF, 0xFF)
        var hugeArray = PickleBytes()
        hugeArray.arrayWrapper(count: .max, dtype: "f8", alignment: true)
        hugeArray.op(0)

        for (name, bytes) in [("deep", deep), ("laughs", laughs), ("recursive", recursive), ("hugeBytes", hugeBytes),
            ("hugeFrame", hugeFrame), ("negativeLong", negativeLong), ("hugeArray", hugeArray)]
        {
            let error = #expect(throws: ArtifactError.self, "\(name)") { try Joblib.load(bytes: bytes.bytes) }
            #expect(error?.kind == .malformed, "\(name): \(String(describing: error))")
        }
    }

    @Test func testInflatedSizeIsBounded() throws {
        let compressed = try Self.bytes("standard.np2.z3.joblib")
        let error = #expect(throws: ArtifactError.self) { try Joblib.load(bytes: compressed, path: nil, maxBytes: compressed.count + 10) }
        #expect(error?.kind == .unsupported && error?.message.contains("inflates") == true)
    }

    @Test(arguments: ["standard.np2.joblib", "minmax_clip.np1.joblib", "pipeline_standard_minmax.np2.p2.pkl", "robust.np2.p5.pkl",
        "maxabs.np1.z3.joblib", "standard.np2.gz.joblib", "standard.np2.jp2.joblib"])
    func testEveryPrefixOfARealFileIsAnErrorNeverACrash(file: String) throws {
        let bytes = try Self.bytes(file)
        _ = try Scaler.decode(try Joblib.load(bytes: bytes), path: nil)
        for length in 0..<bytes.count {
            #expect(throws: ArtifactError.self, "\(file) cut at \(length)") {
                _ = try Scaler.decode(try Joblib.load(bytes: Array(bytes.prefix(length))), path: nil)
            }
        }
    }

    @Test func testRandomBytesAreErrorsNeverCrashes() {
        var rng = SplitMix64(seed: 20_240_611)
        // Opcodes the decoder knows, so random input also reaches deep into it.
        let alphabet: [UInt8] = [0x28, 0x2E, 0x30, 0x31, 0x32, 0x4A, 0x4B, 0x4D, 0x4E, 0x52, 0x5D, 0x61, 0x62, 0x65, 0x68, 0x6C, 0x71, 0x73,
            0x74, 0x75, 0x29, 0x7D, 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x8F, 0x90, 0x91, 0x93, 0x94, 0x95, 0x43, 0x47]
        var errors = 0
        for i in 0..<4_000 {
            let length = Int(rng.next() % 300)
            var bytes = (0..<length).map { _ in
                i % 2 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            if i % 3 == 0 { bytes = [0x80, UInt8(2 + rng.next() % 4)] + bytes }
            do { _ = try Scaler.decode(try Joblib.load(bytes: bytes), path: nil) } catch is ArtifactError { errors += 1 } catch {
                Issue.record("not an ArtifactError: \(error)")
            }
        }
        #expect(errors == 4_000)
    }

    @Test func testMutatedRealFilesNeverCrash() throws {
        var rng = SplitMix64(seed: 99)
        for file in ["robust.np2.p5.pkl", "pipeline_standard_minmax.np1.joblib", "minmax_clip.np2.p2.pkl"] {
            let real = try Self.bytes(file)
            for _ in 0..<700 {
                var bytes = real
                for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                if let scaler = try? Scaler.decode(try Joblib.load(bytes: bytes), path: nil) {
                    _ = scaler.transform([Double](repeating: 1, count: scaler.featureCount))
                }
            }
        }
    }
}
