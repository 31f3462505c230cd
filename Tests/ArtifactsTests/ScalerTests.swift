import ComputeSupport
import Foundation
import Testing

@testable import Artifacts

/// `fixtures/pickles/expected.json`, written by `fixtures/make_pickles.py`. Floats are repr()
/// strings, so they are exact and NaN survives.
struct PickleFixtures: Decodable {
    struct Output: Decodable {
        let kind: String
        let float64: [[String]]
        let float32: [[String]]
    }
    struct Refusal: Decodable {
        let kind: String
        let names: String
    }

    let columns: [String]
    let input: [[String]]
    let outputs: [String: Output]
    let files: [String: String]
    let refused: [String: Refusal]

    static let directory = Fixtures.url("fixtures/pickles")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func load() throws -> PickleFixtures {
        try JSONDecoder().decode(PickleFixtures.self, from: Data(contentsOf: url("expected.json")))
    }

    /// File names for parameterised tests; empty (and so failing the coverage test) if unreadable.
    static let scalerFiles: [String] = ((try? load())?.files.keys).map { $0.sorted() } ?? []
    static let refusedFiles: [String] = ((try? load())?.refused.keys).map { $0.sorted() } ?? []

    static func numbers(_ rows: [[String]]) throws -> [[Double]] {
        try rows.map { try $0.map { try #require(Double($0), "not a float: \($0)") } }
    }
}

/// Same bits, or both NaN (JSON keeps no NaN payload).
func sameDouble(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

@Suite("Scaler")
struct ScalerTests {
    @Test func testFixturesCoverEveryScalerKindFormatAndNumpyEra() throws {
        let files = PickleFixtures.scalerFiles
        for kind in ["standard", "standard_no_mean", "standard_no_std", "minmax", "minmax_clip", "robust", "robust_no_centering", "maxabs",
            "pipeline_standard_minmax"]
        {
            for era in ["np1", "np2"] {
                for format in ["joblib", "z3.joblib", "gz.joblib", "p2.pkl", "p5.pkl"] {
                    #expect(files.contains("\(kind).\(era).\(format)"), "missing \(kind).\(era).\(format)")
                }
            }
        }
    }

    @Test(arguments: PickleFixtures.scalerFiles)
    func testTransformEqualsScikitLearnBitForBit(file: String) throws {
        let fixtures = try PickleFixtures.load()
        let output = try #require(fixtures.files[file].flatMap { fixtures.outputs[$0] })
        let input = try PickleFixtures.numbers(fixtures.input)
        let float64 = try PickleFixtures.numbers(output.float64)
        let float32 = try PickleFixtures.numbers(output.float32).map { $0.map(Float.init) }

        let scaler = try Scaler.load(contentsOf: PickleFixtures.url(file))
        #expect(scaler.kind == output.kind)
        #expect(scaler.featureNames == fixtures.columns)
        #expect(scaler.featureCount == fixtures.columns.count)

        for (row, expected) in zip(input, float64) {
            let got = scaler.transform(row)
            #expect(zip(got, expected).allSatisfy(sameDouble), "\(file): \(row) -> \(got), scikit-learn gave \(expected)")
        }

        let flat = input.flatMap { $0 }
        var scaled = [Float](repeating: .nan, count: flat.count)
        flat.withUnsafeBufferPointer { rows in
            scaled.withUnsafeMutableBufferPointer { scaler.transform(rows: rows, count: input.count, into: $0) }
        }
        let expected = float32.flatMap { $0 }
        #expect(zip(scaled, expected).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "\(file): float32 \(scaled)")
    }

    @Test func testFloat32PathMatchesRowPathAcrossBlocksOfRows() throws {
        let scaler = try Scaler.load(contentsOf: PickleFixtures.url("pipeline_standard_minmax.np2.z3.joblib"))
        var rng = SplitMix64(seed: 7)
        let rows = 1_003  // several internal blocks and a ragged last one
        let raw = (0..<(rows * scaler.featureCount)).map { _ in Double(rng.next() % 100_000) / 97.0 - 300 }
        var out = [Float](repeating: 0, count: raw.count)
        raw.withUnsafeBufferPointer { input in out.withUnsafeMutableBufferPointer { scaler.transform(rows: input, count: rows, into: $0) } }
        for r in 0..<rows {
            let row = Array(raw[(r * scaler.featureCount)..<((r + 1) * scaler.featureCount)])
            #expect(scaler.transform(row).map(Float.init) == Array(out[(r * scaler.featureCount)..<((r + 1) * scaler.featureCount)]))
        }
    }

    @Test func testStandardScalerExposesItsTrainingBaseline() throws {
        let scaler = try Scaler.load(contentsOf: PickleFixtures.url("standard.np2.joblib"))
        let baseline = try #require(scaler.baseline)
        #expect(baseline.mean.count == 5 && baseline.scale.count == 5)
        #expect(baseline.mean[1] > 3.5 && baseline.mean[1] < 3.9, "voltage mean \(baseline.mean[1])")
        #expect(try Scaler.load(contentsOf: PickleFixtures.url("pipeline_standard_minmax.np1.p5.pkl")).baseline != nil)
        #expect(try Scaler.load(contentsOf: PickleFixtures.url("standard_no_std.np2.joblib")).baseline == nil)
        #expect(try Scaler.load(contentsOf: PickleFixtures.url("minmax.np2.joblib")).baseline == nil)
    }

    @Test func testPipelineKindNamesItsSteps() throws {
        let scaler = try Scaler.load(contentsOf: PickleFixtures.url("pipeline_standard_minmax.np2.gz.joblib"))
        #expect(scaler.kind == "Pipeline(StandardScaler,MinMaxScaler)")
    }

    @Test func testClipFollowsNumpyForNaNAndSignedZero() {
        #expect(Scaler.clip(.nan, -1, 1).isNaN)
        #expect(Scaler.clip(-0.0, 0.0, 1).bitPattern == (0.0).bitPattern)
        #expect(Scaler.clip(0.0, -0.0, 1).bitPattern == (-0.0).bitPattern)
        #expect(Scaler.clip(5, -1, 1) == 1 && Scaler.clip(-5, -1, 1) == -1 && Scaler.clip(0.25, -1, 1) == 0.25)
    }

    /// A fitted StandardScaler as the decoder would produce it, with `state` edits.
    static func standardScaler(_ edit: (inout [String: PickleValue]) -> Void = { _ in }) -> PickleValue {
        func array(_ values: [Double]) -> PickleValue {
            .ndarray(NDArray(dtype: DType(.float64), shape: [values.count], elements: .float(values)))
        }
        var state: [String: PickleValue] = [
            "with_mean": .bool(true), "with_std": .bool(true), "n_features_in_": .int(2),
            "mean_": array([1, 2]), "scale_": array([3, 4]),
            "feature_names_in_": .ndarray(NDArray(dtype: DType(.object), shape: [2], elements: .object([.string("a"), .string("b")]))),
        ]
        edit(&state)
        let entries = state.sorted { $0.key < $1.key }.map { PickleValue.Entry(key: .string($0.key), value: $0.value) }
        return .object(className: "sklearn.preprocessing._data.StandardScaler", arguments: [], state: .dict(entries))
    }

    @Test func testDecodeBuildsFromAValueTree() throws {
        let scaler = try Scaler.decode(Self.standardScaler(), path: nil)
        #expect(scaler.kind == "StandardScaler" && scaler.featureNames == ["a", "b"])
        #expect(scaler.transform([4, 10]) == [1, 2])
    }

    enum BadState: CaseIterable, Sendable {
        case wrongLength, missingMean, notFitted, namesNotAnArray, flagNotABool

        func apply(to state: inout [String: PickleValue]) {
            switch self {
            case .wrongLength: state["mean_"] = .ndarray(NDArray(dtype: DType(.float64), shape: [1], elements: .float([1])))
            case .missingMean: state["mean_"] = nil
            case .notFitted: state["n_features_in_"] = nil
            case .namesNotAnArray: state["feature_names_in_"] = .list([.string("a"), .string("b")])
            case .flagNotABool: state["with_mean"] = .string("yes")
            }
        }
    }

    @Test(arguments: BadState.allCases)
    func testInconsistentScalerStateIsMalformed(bad: BadState) {
        let error = #expect(throws: ArtifactError.self) { try Scaler.decode(Self.standardScaler { bad.apply(to: &$0) }, path: "x.joblib") }
        #expect(error?.kind == .malformed, "\(bad): \(String(describing: error))")
        #expect(error?.path == "x.joblib")
    }

    @Test func testValuesThatAreNotScalersAreRefused() {
        #expect(throws: ArtifactError.self) { try Scaler.decode(.none, path: nil) }
        let other = PickleValue.object(className: "sklearn.preprocessing._data.Normalizer", arguments: [], state: .dict([]))
        let error = #expect(throws: ArtifactError.self) { try Scaler.decode(other, path: nil) }
        #expect(error?.kind == .forbiddenClass)
        #expect(error?.message.contains("sklearn.preprocessing._data.Normalizer") == true)
        let emptyPipeline = PickleValue.object(
            className: "sklearn.pipeline.Pipeline", arguments: [],
            state: .dict([.init(key: .string("steps"), value: .list([.tuple([.string("p"), .string("passthrough")])]))]))
        #expect(throws: ArtifactError.self) { try Scaler.decode(emptyPipeline, path: nil) }
    }
}
