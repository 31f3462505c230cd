import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// The gRPC side with grpc-swift's own client (the generated stubs): a swap made over HTTP
/// applies to gRPC at once, the rate limit and per-call metrics, TLS from the HTTPS files, and
/// the health service. Triton's client (TritonClientTests) covers the numbers and the errors.
@Suite("gRPC service", .timeLimit(.minutes(3)))
struct GRPCServiceTests {
    /// `body` with a live app serving gRPC on a free port, and a client of it.
    static func withGRPC(
        _ configuration: Configuration, security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
        _ body: @Sendable @escaping (any TestClientProtocol, GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void
    ) async throws {
        let port = PortBox()
        var configuration = configuration
        configuration.grpcPort = 0
        // The live test client keeps the one HTTP connection it opened first; in a loaded parallel
        // pass the gRPC calls before its next request once took 58 s, and the server's idle
        // timeout (60 s) closed it under the client ("I/O on closed channel"). Not what these
        // tests are about: a real client reconnects.
        configuration.idleTimeoutSeconds = max(configuration.idleTimeoutSeconds, 600)
        configuration.onGRPCListening = { port.set($0) }
        let app = try await buildApplication(configuration: configuration)
        try await app.test(.live) { http in
            let grpc = try #require(await port.wait(), "the gRPC server did not listen")
            try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: grpc), transportSecurity: security)) { client in
                try await body(http, client)
            }
        }
    }

    static func request(_ vector: TestApp.Vector, rows: Int = 3) -> Inference_ModelInferRequest {
        .with {
            $0.modelName = "battery-hazard"
            $0.inputs = [
                .with {
                    $0.name = "input-0"
                    $0.datatype = "FP64"
                    $0.shape = [Int64(rows), Int64(vector.feature_names.count)]
                    $0.contents.fp64Contents = vector.readings.prefix(rows).flatMap { reading in vector.feature_names.map { reading[$0]! } }
                }
            ]
        }
    }

    @Test func testASwapOverHTTPAppliesToGRPC() async throws {
        let served = try TestApp.servedVector()
        let baseline = try #require(try TestApp.defaultStoreVectors().first { $0.run_id != served.run_id })
        try await Self.withGRPC(TestApp.configuration()) { http, client in
            let inference = Inference_GRPCInferenceService.Client(wrapping: client)
            let before = try await inference.modelInfer(Self.request(served))
            #expect(before.modelVersion == served.run_id)
            let activated = try await http.execute(
                uri: "/models/activate", method: .post, headers: TestApp.json, body: ByteBuffer(string: "{\"run_id\": \"\(baseline.run_id)\"}"))
            #expect(activated.status == .ok)
            let after = try await inference.modelInfer(Self.request(baseline))
            #expect(after.modelVersion == baseline.run_id)
            let probabilities = try #require(after.outputs.first { $0.name == "hazard_probability" }).contents.fp32Contents
            #expect(zip(probabilities, baseline.probabilities).allSatisfy { abs(Double($0) - $1) <= 1e-6 }, "\(probabilities)")
            // The version named in the request must be the served one.
            await #expect(throws: RPCError.self) {
                var pinned = Self.request(baseline)
                pinned.modelVersion = served.run_id
                _ = try await inference.modelInfer(pinned)
            }
        }
    }

    @Test func testTheRateLimitIsResourceExhaustedAndEveryCallIsCounted() async throws {
        let vector = try TestApp.servedVector()
        let configuration = try SecuredApp.configuration(["RATE_LIMIT_PER_MINUTE": "3"])
        try await Self.withGRPC(configuration) { http, client in
            let inference = Inference_GRPCInferenceService.Client(wrapping: client)
            let key: Metadata = ["x-api-key": .string(SecuredApp.Key.predict.rawValue)]
            var codes: [RPCError.Code?] = []
            for _ in 0..<4 {
                do {
                    _ = try await inference.modelInfer(Self.request(vector), metadata: key)
                    codes.append(nil)
                } catch let error as RPCError {
                    codes.append(error.code)
                }
            }
            #expect(codes == [nil, nil, nil, .resourceExhausted], "\(codes)")
            let metrics = try await http.execute(uri: "/metrics", method: .get, headers: SecuredApp.Key.metrics.headers)
            let text = String(buffer: metrics.body)
            #expect(text.contains(#"grpc_server_handled_total{grpc_method="ModelInfer",grpc_code="OK"} 3"#), "\(text.prefix(3000))")
            #expect(text.contains(#"grpc_server_handled_total{grpc_method="ModelInfer",grpc_code="ResourceExhausted"} 1"#))
            #expect(text.contains("grpc_server_handling_seconds_count"))
        }
    }

    @Test func testHealthSaysServingAndRefusesAnUnknownService() async throws {
        try await Self.withGRPC(TestApp.configuration()) { _, client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            let server: Grpc_Health_V1_HealthCheckResponse = try await health.check(.with { $0.service = "" })
            let inference: Grpc_Health_V1_HealthCheckResponse = try await health.check(.with { $0.service = "inference.GRPCInferenceService" })
            #expect(server.status == .serving && inference.status == .serving)
            do {
                let answer: Grpc_Health_V1_HealthCheckResponse = try await health.check(.with { $0.service = "something.Else" })
                Issue.record("an unknown service was answered: \(answer)")
            } catch let error as RPCError {
                #expect(error.code == .notFound)
            }
            // Watch sends the current status first.
            let first = try await health.watch(.with { $0.service = "" }) { response -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? in
                for try await message in response.messages { return message.status }
                return nil
            }
            #expect(first == .serving)
        }
    }

    @Test func testTLSUsesTheHTTPSFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("grpc-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try await TLSAndCORSTests.selfSigned(in: directory)
        let configuration = TestApp.configuration {
            $0.tlsCertificateFile = files.certificate
            $0.tlsKeyFile = files.key
        }
        let security = HTTP2ClientTransport.Posix.TransportSecurity.tls {
            $0.trustRoots = .certificates([.file(path: files.certificate, format: .pem)])
        }
        try await Self.withGRPC(configuration, security: security) { _, client in
            let live = try await Inference_GRPCInferenceService.Client(wrapping: client).serverLive(.init())
            #expect(live.live)
        }
    }
}

/// The real executable's shutdown with a gRPC stream open. Runs alone (`ALONE_TESTS`): it starts
/// a process and bounds a shutdown's time, which a machine busy with the other suites stretches.
@Suite("gRPC shutdown", .timeLimit(.minutes(3)))
struct GRPCShutdownTests {
    /// SIGTERM to the real executable while a client watches the health: a watch never ends by
    /// itself and the graceful shutdown waits for calls in flight, so the watch must end when
    /// the server stops (well inside the 20 s grace it would otherwise hold it for).
    @Test func testSIGTERMEndsAnOpenHealthWatch() async throws {
        let grpcPort = try HeldPort().port  // a free port, released at once
        let server = try await ServerProcess(environment: ["GRPC_PORT": String(grpcPort), "SHUTDOWN_GRACE_SECONDS": "20"])
        try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext)) { client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            // The HTTP side's "listening" line is what ServerProcess waits for; the gRPC listener
            // may come up a moment later on a loaded machine.
            var ready = false
            let deadline = Date().addingTimeInterval(60)
            while !ready, Date() < deadline {
                let answer: Grpc_Health_V1_HealthCheckResponse? = try? await health.check(.with { $0.service = "" })
                ready = answer?.status == .serving
                if !ready { try await Task.sleep(for: .milliseconds(200)) }
            }
            try #require(ready, "the gRPC health check never answered SERVING: \(server.logs.text.suffix(1500))")
            let watching = Task {
                try await health.watch(.with { $0.service = "" }) { response -> Int in
                    var seen = 0
                    for try await _ in response.messages { seen += 1 }
                    return seen
                }
            }
            try await Task.sleep(for: .seconds(1.5))
            let sent = Date()
            kill(server.process.processIdentifier, SIGTERM)
            while server.process.isRunning, Date().timeIntervalSince(sent) < 30 { try await Task.sleep(for: .milliseconds(20)) }
            let took = Date().timeIntervalSince(sent)
            print("SIGTERM with a health watch open: exited after \(String(format: "%.2f", took)) s")
            #expect(took < 8, "the open watch held the shutdown for \(took) s: \(server.logs.text.suffix(2000))")
            #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0, "\(server.logs.text.suffix(1500))")
            let seen = try await watching.value
            #expect(seen >= 1, "the watch got the status before the server stopped")
        }
    }
}
