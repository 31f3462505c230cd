import Foundation
import Hummingbird
import HummingbirdTesting
import NIOSSL
import Testing

@testable import InferenceAPI

@Suite("TLS and CORS", .timeLimit(.minutes(5)))
struct TLSAndCORSTests {
    /// A self-signed certificate for localhost, made with openssl.
    static func selfSigned(in directory: URL) async throws -> (certificate: String, key: String) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        guard await exited(openssl, within: 60) else { throw TestFailure("openssl still running after 60 s") }
        guard openssl.terminationStatus == 0 else { throw TestFailure("openssl exited with \(openssl.terminationStatus)") }
        return (certificate, key)
    }

    @Test func testServesHTTPSWhenACertificateIsConfigured() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try await Self.selfSigned(in: directory)
        let app = try await buildApplication(
            configuration: TestApp.configuration {
                $0.tlsCertificateFile = files.certificate
                $0.tlsKeyFile = files.key
            })
        let vector = try TestApp.servedVector()
        try await app.test(.live) { plain in
            let port = try #require(plain.port)
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(files.certificate))
            let client = TestClient(host: "localhost", port: port, configuration: .init(tlsConfiguration: tls, serverName: "localhost"))
            client.connect()
            let health = try await client.get("/health")
            #expect(health.status == .ok)
            let predicted = try await client.post("/predict", headers: TestApp.json, body: TestApp.body(Array(vector.readings.prefix(2))))
            #expect(predicted.status == .ok)
            let answer = try JSONDecoder().decode(PredictAnswer.self, from: Data(buffer: predicted.body ?? ByteBuffer()))
            #expect(abs(answer.predictions[0].hazard_probability - vector.probabilities[0]) < 1e-6)
            try await client.shutdown()
        }
    }

    @Test func testAnUnreadableCertificateStopsStartUp() async throws {
        await #expect(throws: ConfigurationError.self) {
            _ = try await buildApplication(
                configuration: TestApp.configuration {
                    $0.tlsCertificateFile = "/nonexistent/cert.pem"
                    $0.tlsKeyFile = "/nonexistent/key.pem"
                })
        }
    }

    @Test func testCORSAllowsListedOriginsOnlyAndCoversErrors() async throws {
        let app = try await buildApplication(
            configuration: try SecuredApp.configuration(["CORS_ORIGINS": "https://dash.example.com, http://localhost:3000"]))
        try await app.test(.router) { client in
            let preflight = try await client.execute(
                uri: "/predict", method: .options,
                headers: [.origin: "https://dash.example.com", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://dash.example.com")
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            // A dashboard's retries carry Idempotency-Key, and it reads whether an answer was replayed.
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Idempotency-Key") == true)
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)

            let unauthorized = try await client.execute(uri: "/models", method: .get, headers: [.origin: "http://localhost:3000"])
            #expect(unauthorized.status == .unauthorized)
            #expect(unauthorized.headers[.accessControlAllowOrigin] == "http://localhost:3000", "a browser can read the 401")
            #expect(unauthorized.headers[.vary] == "Origin")
            #expect(unauthorized.headers[.accessControlExposeHeaders]?.contains("Idempotent-Replayed") == true)
            // Errors the envelope makes from the router's own (an unknown route) carry them too,
            // with the answer's common headers.
            let unknown = try await client.execute(uri: "/no-such-route", method: .get, headers: [.origin: "http://localhost:3000"])
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.accessControlAllowOrigin] == "http://localhost:3000", "a browser can read the 404")
            #expect(unknown.headers[.xContentTypeOptions] == "nosniff" && unknown.headers[.requestID] != nil)

            var headers = SecuredApp.Key.admin.headers
            headers[.origin] = "https://dash.example.com"
            let allowed = try await client.execute(uri: "/models/active", method: .get, headers: headers)
            #expect(allowed.status == .ok && allowed.headers[.accessControlAllowOrigin] == "https://dash.example.com")
            #expect(allowed.headers[.accessControlExposeHeaders]?.contains("X-Request-ID") == true)

            headers[.origin] = "https://evil.example.org"
            let other = try await client.execute(uri: "/models/active", method: .get, headers: headers)
            #expect(other.status == .ok && other.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
