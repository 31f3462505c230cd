import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// The server opens and migrates the store its configuration names, and /ready checks it.
@Suite("Store wiring", .timeLimit(.minutes(5)))
struct StoreWiringTests {

    static func ready(_ client: some TestClientProtocol) async throws -> [String: Any] {
        let response = try await client.execute(uri: "/ready", method: .get)
        #expect(response.status == .ok)
        return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
    }

    @Test func testDefaultIsAnSQLiteFileCreatedAndMigratedAtStartUp() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wiring-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("data/inference.sqlite").path
        let app = try await buildApplication(configuration: TestApp.configuration { $0.sqlitePath = path })
        #expect(FileManager.default.fileExists(atPath: path))
        try await app.test(.router) { client in
            let ready = try await Self.ready(client)
            #expect(ready["store"] as? String == "sqlite")
        }
    }

    @Test(.enabled(if: TestApp.postgresEnabled, TestApp.postgresSkipReason))
    func testDatabaseURLSelectsPostgreSQLMigratedBeforeServing() async throws {
        let url = try #require(TestApp.postgresURL, "CI must provide TEST_DATABASE_URL")
        let app = try await buildApplication(configuration: TestApp.configuration { $0.databaseURL = url })
        try await app.test(.live) { client in
            let ready = try await Self.ready(client)
            #expect(ready["store"] as? String == "postgresql")
        }
    }
}
