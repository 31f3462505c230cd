import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// KServe's own Python SDK clients (`kserve.InferenceRESTClient` with protocol v2, JSON and
/// binary tensors, and `kserve.InferenceGRPCClient`; pinned in Tests/OIPClients) against a live
/// server with API keys: readiness, one row and 1,000 with Python's answers, and the errors its
/// users meet, read by the client itself.
@Suite("KServe's clients")
struct KServeClientTests {
    @Test(.timeLimit(.minutes(3))) func testKServesClientsGetPythonsAnswers() async throws {
        let (seen, _, expected, labels) = try await TritonClientTests.run("Tests/OIPClients/kserve_clients.py")
        for (side, count, statuses) in [("rest", 4, ["401", "404"]), ("grpc", 2, ["StatusCode.UNAUTHENTICATED", "StatusCode.NOT_FOUND"])] {
            let found = seen[side] as? [String: Any] ?? [:]
            #expect(found["live"] as? Bool == true && found["ready"] as? Bool == true && found["model_ready"] as? Bool == true, "\(side)")
            let answers = found["answers"] as? [String: [String: Any]] ?? [:]
            #expect(answers.count == count, "\(side): \(answers.keys.sorted())")
            for (name, answer) in answers {
                let probabilities = answer["probabilities"] as? [Double] ?? []
                let rowCount = name.hasSuffix(" 1") ? 1 : 1000
                #expect(probabilities.count == rowCount, "\(side) \(name)")
                let worst = zip(probabilities, expected).map { abs($0 - $1) }.max() ?? .infinity
                #expect(worst <= 1e-6, "\(side) \(name): max |client - python| = \(worst)")
                #expect(answer["labels"] as? [Int] == Array(labels.prefix(rowCount)), "\(side) \(name)")
            }
            let errors = found["errors"] as? [String: String] ?? [:]
            #expect([errors["no_credentials"], errors["unknown_model"]] == statuses, "\(side): \(errors)")
        }
    }
}
