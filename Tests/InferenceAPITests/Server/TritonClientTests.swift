import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// Triton's own Python clients (`tritonclient[http,grpc]`, pinned in Tests/OIPClients, its
/// virtualenv made by `make test`) against a live server with API keys, over HTTP and gRPC:
/// health, readiness, metadata, and infer (HTTP: JSON and binary tensors; gRPC: raw tensors),
/// FP32 and FP64, one row and 1,000, each
/// FP64 probability equal to Python's (FP32 ones to FP64's of the same float32-rounded values);
/// and the errors its users meet, read by the client itself.
@Suite("Triton's clients")
struct TritonClientTests {
    static let python = ProcessInfo.processInfo.environment["OIP_CLIENTS_PYTHON"]
        ?? TestApp.repoRoot.appendingPathComponent("Tests/OIPClients/.venv/bin/python").path

    /// What a client script of Tests/OIPClients saw, run against a live server with API keys that
    /// serves gRPC on a free port: `--url` and `--grpc-url` (host:port), `--model`, `--key` (the
    /// predict key), `--rows` (1,000 rows: the served vector's readings again and again), and
    /// `extra`. Also the vector and Python's answers for those rows.
    static func run(_ script: String, extra: [String] = []) async throws -> (seen: [String: Any], vector: TestApp.Vector, expected: [Double], labels: [Int]) {
        try #require(FileManager.default.isExecutableFile(atPath: python), "no client virtualenv at \(python): run `make test`")
        let vector = try TestApp.servedVector()
        let rows = (0..<1000).map { k in vector.feature_names.map { vector.readings[k % vector.readings.count][$0]! } }
        let expected = (0..<1000).map { vector.probabilities[$0 % vector.probabilities.count] }
        let labels = (0..<1000).map { vector.predictions[$0 % vector.predictions.count] }
        let rowsFile = FileManager.default.temporaryDirectory.appendingPathComponent("oip-rows-\(UUID().uuidString.prefix(8)).json")
        try JSONSerialization.data(withJSONObject: rows).write(to: rowsFile)
        defer { try? FileManager.default.removeItem(at: rowsFile) }

        let grpcPort = PortBox()
        let app = try await buildApplication(
            configuration: try SecuredApp.configuration {
                $0.grpcPort = 0
                $0.onGRPCListening = { grpcPort.set($0) }
            })
        let finished = try await app.test(.live) { client in
            let port = try #require(client.port)
            let grpc = try #require(await grpcPort.wait(), "the gRPC server did not listen")
            return try await PythonScript.run(
                python: python, script: script,
                arguments: [
                    "--url", "127.0.0.1:\(port)", "--grpc-url", "127.0.0.1:\(grpc)", "--model", "battery-hazard",
                    "--key", SecuredApp.Key.predict.rawValue, "--rows", rowsFile.path,
                ] + extra)
        }
        #expect(finished.status == 0, "the client failed: \(finished.output.suffix(2000))")
        let seen = try #require(finished.findings, "no findings: \(finished.output.suffix(2000))")
        return (seen, vector, expected, labels)
    }

    @Test(.timeLimit(.minutes(3))) func testTritonsClientGetsPythonsAnswers() async throws {
        let (seen, vector, expected, labels) = try await Self.run(
            "Tests/OIPClients/triton_clients.py", extra: ["--other-key", SecuredApp.Key.anomalyReader.rawValue])
        Self.check(seen, over: "HTTP", answers: 8, expected: expected, labels: labels, vector: vector, statuses: ["401", "403", "404", "400"])
        let overGRPC = try #require(seen["grpc"] as? [String: Any], "no gRPC findings")
        Self.check(
            overGRPC, over: "gRPC", answers: 4, expected: expected, labels: labels, vector: vector,
            statuses: ["StatusCode.UNAUTHENTICATED", "StatusCode.PERMISSION_DENIED", "StatusCode.NOT_FOUND", "StatusCode.INVALID_ARGUMENT"])
        let bearer = overGRPC["bearer"] as? [Double] ?? []
        #expect(bearer.count == 1 && abs(bearer[0] - expected[0]) <= 1e-6, "an API key as a bearer token: \(bearer)")
        #expect(overGRPC["health"] as? Int == 1, "grpc.health.v1 says SERVING")
        #expect(overGRPC["health_unknown"] as? String == "StatusCode.NOT_FOUND")
    }

    /// One protocol's findings: health, metadata, every answer equal to Python's (FP32 ones to
    /// FP64's of the same rounded values), and the four mistakes' statuses in order (no
    /// credentials, wrong scope, unknown model, wrong shape), each with a message.
    static func check(
        _ seen: [String: Any], over protocolName: String, answers count: Int, expected: [Double], labels: [Int], vector: TestApp.Vector, statuses: [String]
    ) {
        #expect(seen["live"] as? Bool == true && seen["ready"] as? Bool == true && seen["model_ready"] as? Bool == true, "\(protocolName)")
        #expect((seen["server_metadata"] as? [String: Any])?["extensions"] as? [String] == ["binary_tensor_data"], "\(protocolName)")
        // gRPC's JSON form writes int64 as strings.
        let shape = ((seen["model_metadata"] as? [String: Any])?["inputs"] as? [[String: Any]])?.first?["shape"] as? [Any]
        #expect(shape.map { $0.map { "\($0)" } } == ["-1", "\(vector.feature_names.count)"], "\(protocolName): \(String(describing: shape))")
        let answers = seen["answers"] as? [String: [String: Any]] ?? [:]
        #expect(answers.count == count, "\(protocolName): \(answers.keys.sorted())")
        for (name, answer) in answers {
            let probabilities = answer["probabilities"] as? [Double] ?? []
            let rows = name.hasSuffix(" 1") ? 1 : 1000
            #expect(probabilities.count == rows, "\(protocolName) \(name)")
            if name.hasPrefix("FP64") {
                let worst = zip(probabilities, expected).map { abs($0 - $1) }.max() ?? .infinity
                #expect(worst <= 1e-6, "\(protocolName) \(name): max |client - python| = \(worst)")
            } else {
                // FP32 holds the readings rounded to float32: the answers are those of the same
                // rounded values sent as FP64 (whose answers are Python's), exactly.
                let rounded = answer["fp64_of_rounded"] as? [Double] ?? []
                #expect(rounded.count == rows && probabilities.map(Float.init) == rounded.map(Float.init), "\(protocolName) \(name)")
            }
            #expect(answer["labels"] as? [Int] == Array(labels.prefix(rows)), "\(protocolName) \(name)")
            #expect(answer["model_version"] as? String == vector.run_id, "\(protocolName) \(name)")
        }
        let errors = seen["errors"] as? [String: [String: Any]] ?? [:]
        let seenStatuses = ["no_credentials", "wrong_scope", "unknown_model", "wrong_shape"].map { errors[$0]?["status"] as? String ?? "" }
        #expect(seenStatuses == statuses, "\(protocolName): \(errors)")
        for (name, error) in errors {
            #expect((error["message"] as? String)?.isEmpty == false, "\(protocolName) \(name): the client reads the message: \(error)")
        }
    }
}

/// A port a server reports once it listens, awaited by the test.
final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?

    func set(_ value: Int) { lock.withLock { port = value } }

    /// The port, waiting up to 10 s for it.
    func wait() async -> Int? {
        for _ in 0..<200 {
            if let port = lock.withLock({ port }) { return port }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
