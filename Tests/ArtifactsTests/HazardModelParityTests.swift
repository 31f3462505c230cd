import Foundation
import Testing

@testable import Artifacts

/// The Swift service must give exactly the probabilities Python gave, for every fixture run
/// (MLflow 2 and 3 layouts; legacy binary, JSON and UBJSON boosters; Standard and MinMax scalers).
@Suite("HazardModel parity with Python")
struct HazardModelParityTests {
    static let tolerance = 1e-6

    static func vectorFiles() -> [URL] {
        (try? Fixtures.vectorFiles()) ?? []
    }

    @Test func testFixtureVectorsExistForEveryCase() throws {
        let files = Self.vectorFiles()
        #expect(files.count >= 4, "fixtures/vectors holds the Python answers (run `make fixtures`)")
        let formats = Set(try files.map { try Fixtures.vector($0).model_format ?? "" })
        #expect(formats.isSuperset(of: ["xgb", "json", "ubj"]), "formats covered: \(formats)")
    }

    @Test(arguments: vectorFiles())
    func testProbabilitiesMatchPythonWithinTolerance(file: URL) throws {
        let vector = try Fixtures.vector(file)
        let store = try MLflowStore(root: Fixtures.url(vector.mlruns))
        let model = try HazardModel.load(from: store, reference: vector.run_id)
        #expect(model.featureNames == vector.feature_names)
        let predictions = try model.predict(readings: vector.readings)
        #expect(predictions.count == vector.probabilities.count)
        var maxDifference = 0.0
        for (i, (prediction, expected)) in zip(predictions, vector.probabilities).enumerated() {
            let difference = abs(Double(prediction.probability) - expected)
            maxDifference = max(maxDifference, difference)
            #expect(difference <= Self.tolerance, "\(vector.case) reading \(i): \(prediction.probability) vs Python \(expected)")
            #expect(prediction.label == vector.predictions[i], "\(vector.case) reading \(i) label")
        }
        print("parity \(vector.case) run \(vector.run_name ?? vector.run_id): max |swift - python| = \(maxDifference) over \(predictions.count) readings")
    }

    @Test(arguments: vectorFiles())
    func testBatchAndSingleRowPredictionsAgree(file: URL) throws {
        let vector = try Fixtures.vector(file)
        let model = try HazardModel.load(from: try MLflowStore(root: Fixtures.url(vector.mlruns)), reference: vector.run_id)
        // The batch crosses the parallel threshold, so the split path is compared with row-by-row.
        let readings = Array(repeating: vector.readings, count: (HazardModel.parallelThreshold / vector.readings.count) + 2).flatMap { $0 }
        let batch = try model.predict(readings: readings)
        for (i, reading) in readings.prefix(vector.readings.count).enumerated() {
            #expect(try model.predict(readings: [reading]) == [batch[i]])
        }
        #expect(batch.suffix(vector.readings.count).map(\.probability) == batch.prefix(vector.readings.count).map(\.probability))
    }
}
