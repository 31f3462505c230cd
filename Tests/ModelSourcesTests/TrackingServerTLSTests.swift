import Foundation
import Testing

@testable import ModelSources

/// A tracking server behind HTTPS (issue 24 item 7): the real MLflow server of
/// `scripts/with-mlflow.sh` behind nginx terminating TLS with a certificate signed by a CA made
/// for the test. Trusted through `MLFLOW_TRACKING_SERVER_CERT_PATH`, as MLflow's own client is;
/// refused without it; `MLFLOW_TRACKING_INSECURE_TLS` honoured.
@Suite("Tracking server over HTTPS")
struct TrackingServerTLSTests {
    /// The retry loop's own failure text ends "(N attempts)": a TLS refusal must not reach it.
    func untriedAgain(_ failure: String) -> Bool { !failure.contains("attempts)") }

    static var url: String? { LiveMLflow.environment["TEST_MLFLOW_HTTPS_URL"] }
    static var ca: String? { LiveMLflow.environment["TEST_MLFLOW_CA"] }

    @Test func testTheCAIsTrustedWhenNamedAndTheServerRefusedWhenNot() async throws {
        let url = try #require(Self.url, "CI must run scripts/with-mlflow.sh (TEST_MLFLOW_HTTPS_URL)")
        let ca = try #require(Self.ca)
        let champion = try LiveMLflow.champion()

        let cache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        // Up to 120 s a request, as the model-source fixtures allow: the shared MLflow server,
        // one worker, took longer than 30 s to answer once at the start of the loaded parallel pass.
        let trusted = try await LiveMLflow.source(url: url, cache: cache) {
            $0.serverCertificate = ca
            $0.requestTimeoutSeconds = 120
        }
        let largest = try await Fixtures.expectParity(trusted, "models:/battery-hazard@champion", champion)
        print("tracking server over HTTPS, CA trusted: champion served, max |swift - python| = \(largest)")
        await trusted.close()

        // Not told about the CA: the certificate is not trusted, and the error says so.
        let other = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: other) }
        let untrusted = try await LiveMLflow.source(url: url, cache: other) { $0.requestTimeoutSeconds = 10 }
        var failure = ""
        do {
            _ = try await untrusted.resolve("models:/battery-hazard@champion")
        } catch {
            failure = "\(error)"
        }
        await untrusted.close()
        print("tracking server over HTTPS, CA not named: \(failure)")
        #expect(!failure.isEmpty, "an untrusted certificate must be refused")
        #expect(failure.contains("certificate is not trusted") && failure.contains("MLFLOW_TRACKING_SERVER_CERT_PATH"), "the error names the certificate and the setting: \(failure)")
        #expect(untriedAgain(failure), "refused at once, not retried: \(failure)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: other.path)) ?? []).allSatisfy { !$0.hasPrefix("models") }, "nothing cached")

        // MLFLOW_TRACKING_INSECURE_TLS=true: verification off, as in MLflow.
        let insecureCache = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: insecureCache) }
        let insecure = try await LiveMLflow.source(url: url, cache: insecureCache) {
            $0.insecureTLS = true
            $0.requestTimeoutSeconds = 120
        }
        try await Fixtures.expectParity(insecure, champion.run_id, champion)
        await insecure.close()
    }
}
