import Foundation
import Testing

@testable import Artifacts

/// Every scaler kind, saved by joblib (plain, zlib, gzip) and pickle (protocols 2 and 5), with
/// numpy 1 and numpy 2, transforms exactly as scikit-learn did.
@Suite("Scaler")
struct ScalerTests {
    struct Expected: Decodable {
        struct Output: Decodable {
            let kind: String
            let float64: [[Double]]
            let float32: [[Double]]
        }
        let tag: String
        let columns: [String]
        let input: [[Double]]
        let files: [String: String]
        let outputs: [String: Output]
    }

    static let pickles = Fixtures.url("fixtures/pickles")

    static func expectations() throws -> [Expected] {
        try ["np1", "np2"].map {
            try JSONDecoder().decode(Expected.self, from: Data(contentsOf: pickles.appendingPathComponent("expected.\($0).json")))
        }
    }

    static func cases() -> [String] {
        ((try? expectations()) ?? []).flatMap { $0.files.keys }.sorted()
    }

    @Test func testEveryScalerKindAndFormatIsCovered() throws {
        let files = Self.cases()
        #expect(files.count >= 90)
        for suffix in [".z3.joblib", ".gz.joblib", ".p2.pkl", ".p5.pkl"] { #expect(files.contains { $0.hasSuffix(suffix) }) }
    }

    @Test(arguments: cases())
    func testTransformEqualsScikitLearnBitForBit(file: String) throws {
        let expectation = try #require(try Self.expectations().first { $0.files[file] != nil })
        let output = try #require(expectation.outputs[expectation.files[file]!])
        let scaler = try Scaler.load(contentsOf: Self.pickles.appendingPathComponent(file))
        #expect(scaler.featureNames == expectation.columns)
        #expect(scaler.featureCount == expectation.columns.count)
        for (row, expected) in zip(expectation.input, output.float64) {
            let got = scaler.transform(row)
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "\(file): \(got) vs \(expected)")
        }
        let flat = expectation.input.flatMap { $0 }
        var scaled = [Float](repeating: 0, count: flat.count)
        flat.withUnsafeBufferPointer { input in
            scaled.withUnsafeMutableBufferPointer { scaler.transform(rows: input, count: expectation.input.count, into: $0) }
        }
        #expect(scaled == output.float32.flatMap { $0.map(Float.init) }, "\(file): float32 path")
    }

    @Test func testStandardScalerExposesItsTrainingBaseline() throws {
        let scaler = try Scaler.load(contentsOf: Self.pickles.appendingPathComponent("standard.np2.joblib"))
        let baseline = try #require(scaler.baseline)
        #expect(baseline.mean.count == 5 && baseline.scale.count == 5)
        #expect(try Scaler.load(contentsOf: Self.pickles.appendingPathComponent("minmax.np2.joblib")).baseline == nil)
    }

    @Test(arguments: ["quantile.np1.joblib", "quantile.np2.joblib"])
    func testUnknownEstimatorIsRefusedNamingIt(file: String) throws {
        let error = #expect(throws: ArtifactError.self) { try Scaler.load(contentsOf: Self.pickles.appendingPathComponent(file)) }
        #expect(error?.kind == .forbiddenClass)
        #expect(error?.message.contains("QuantileTransformer") == true, "\(String(describing: error))")
    }
}
