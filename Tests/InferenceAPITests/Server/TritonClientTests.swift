import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// Triton's own Python HTTP client (`tritonclient[http]`, pinned in Tests/OIPClients, its
/// virtualenv made by `make test`) against a live server with API keys: health, readiness,
/// metadata, and infer as JSON and as binary tensors, FP32 and FP64, one row and 1,000, each
/// FP64 probability equal to Python's (FP32 ones to FP64's of the same float32-rounded values);
/// and the errors its users meet, read by the client itself.
@Suite("Triton's HTTP client")
struct TritonClientTests {
    static let python = ProcessInfo.processInfo.environment["OIP_CLIENTS_PYTHON"]
        ?? TestApp.repoRoot.appendingPathComponent("Tests/OIPClients/.venv/bin/python").path

    @Test(.timeLimit(.minutes(3))) func testTritonsClientGetsPythonsAnswers() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "no client virtualenv at \(Self.python): run `make test`")
        let vector = try TestApp.servedVector()
        // 1,000 rows: the vector's readings again and again, Python's answers with them.
        let rows = (0..<1000).map { k in vector.feature_names.map { vector.readings[k % vector.readings.count][$0]! } }
        let expected = (0..<1000).map { vector.probabilities[$0 % vector.probabilities.count] }
        let labels = (0..<1000).map { vector.predictions[$0 % vector.predictions.count] }
        let rowsFile = FileManager.default.temporaryDirectory.appendingPathComponent("triton-rows-\(UUID().uuidString.prefix(8)).json")
        try JSONSerialization.data(withJSONObject: rows).write(to: rowsFile)
        defer { try? FileManager.default.removeItem(at: rowsFile) }

        let app = try await buildApplication(configuration: try SecuredApp.configuration())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let finished = try await PythonScript.run(
                python: Self.python, script: "Tests/OIPClients/triton_http.py",
                arguments: [
                    "--url", "127.0.0.1:\(port)", "--model", "battery-hazard", "--key", SecuredApp.Key.predict.rawValue,
                    "--other-key", SecuredApp.Key.anomalyReader.rawValue, "--rows", rowsFile.path,
                ])
            #expect(finished.status == 0, "the client failed: \(finished.output.suffix(2000))")
            let seen = try #require(finished.findings, "no findings: \(finished.output.suffix(2000))")

            #expect(seen["live"] as? Bool == true && seen["ready"] as? Bool == true && seen["model_ready"] as? Bool == true)
            #expect((seen["server_metadata"] as? [String: Any])?["extensions"] as? [String] == ["binary_tensor_data"])
            let inputs = (seen["model_metadata"] as? [String: Any])?["inputs"] as? [[String: Any]]
            #expect(inputs?.first?["shape"] as? [Int] == [-1, vector.feature_names.count])

            let answers = try #require(seen["answers"] as? [String: [String: Any]])
            #expect(answers.count == 8, "FP32 and FP64, JSON and binary, 1 and 1,000 rows: \(answers.keys.sorted())")
            for (name, answer) in answers {
                let probabilities = answer["probabilities"] as? [Double] ?? []
                let count = name.hasSuffix(" 1") ? 1 : 1000
                #expect(probabilities.count == count, "\(name)")
                if name.hasPrefix("FP64") {
                    let worst = zip(probabilities, expected).map { abs($0 - $1) }.max() ?? .infinity
                    #expect(worst <= 1e-6, "\(name): max |client - python| = \(worst)")
                } else {
                    // FP32 holds the readings rounded to float32: the answers are those of the same
                    // rounded values sent as FP64 (whose answers are Python's), exactly.
                    let rounded = answer["fp64_of_rounded"] as? [Double] ?? []
                    #expect(rounded.count == count && probabilities.map(Float.init) == rounded.map(Float.init), "\(name)")
                }
                #expect(answer["labels"] as? [Int] == Array(labels.prefix(count)), "\(name)")
                #expect(answer["model_version"] as? String == vector.run_id, "\(name)")
            }

            let errors = try #require(seen["errors"] as? [String: [String: Any]])
            let statuses = errors.mapValues { $0["status"] as? String ?? "" }
            #expect(statuses == ["no_credentials": "401", "wrong_scope": "403", "unknown_model": "404", "wrong_shape": "400"], "\(errors)")
            for (name, error) in errors {
                #expect((error["message"] as? String)?.isEmpty == false, "\(name): the client reads the protocol's message: \(error)")
            }
        }
    }
}
