import ArgumentParser
import Foundation
import InferenceAPI

/// `inference-api bench-grpc`: the gRPC bodies of `make bench` (GRPCBenchRequests). Writes a
/// `ModelInferRequest` framed as on the wire for h2load, or makes one call and prints the framed
/// size of the answer (what each of h2load's answers must measure; exit 1 on a gRPC error).
struct BenchGRPC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-grpc", abstract: "gRPC ModelInfer bodies for make bench's h2load rows, and a one-call check.")

    @Option(help: "An Open Inference REST JSON body: its inputs and outputs become the ModelInferRequest.") var body: String
    @Option(help: "Model name.") var model = "battery-hazard"
    @Flag(help: "raw_input_contents (little-endian bytes, as numpy clients send) instead of typed contents.") var raw = false
    @Option(help: "Write the framed request (gRPC's 5-byte prefix + protobuf) to this file.") var writeRequest: String?
    @Option(help: "host:port: make one call and print the answer's framed size.") var probe: String?

    func run() async throws {
        let json = try Data(contentsOf: URL(fileURLWithPath: body))
        if let writeRequest {
            try GRPCBenchRequests.framedRequest(json: json, model: model, raw: raw).write(to: URL(fileURLWithPath: writeRequest))
        }
        if let probe {
            let parts = probe.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--probe must be host:port") }
            print(try await GRPCBenchRequests.probe(host: String(parts[0]), port: port, model: model, body: json, raw: raw))
        }
    }
}
