import Foundation
import Testing

@testable import Artifacts

/// Nothing a request names may escape `MLRUNS_DIR`.
@Suite("MLflowStore path safety")
struct MLflowStorePathSafetyTests {
    /// A minimal store written by hand: experiment 1 with one run whose artifacts folder is a
    /// symlink pointing outside the store, and a secret file next to the store.
    static func makeStore() throws -> (root: URL, cleanup: () -> Void) {
        let base = try Fixtures.temporaryDirectory()
        let root = base.appendingPathComponent("mlruns")
        let outside = base.appendingPathComponent("outside")
        let fm = FileManager.default
        try fm.createDirectory(at: outside, withIntermediateDirectories: true)
        try "not for you".write(to: outside.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        let experiment = root.appendingPathComponent("1")
        try fm.createDirectory(at: experiment, withIntermediateDirectories: true)
        try "name: battery-hazard\nexperiment_id: '1'\nlifecycle_stage: active\n".write(
            to: experiment.appendingPathComponent("meta.yaml"), atomically: true, encoding: .utf8)
        let run = experiment.appendingPathComponent("0123456789abcdef0123456789abcdef")
        try fm.createDirectory(at: run, withIntermediateDirectories: true)
        try "run_id: 0123456789abcdef0123456789abcdef\nexperiment_id: '1'\nstatus: 3\nlifecycle_stage: active\nartifact_uri: file:///C:/Users/someone/mlruns/1/0123456789abcdef0123456789abcdef/artifacts\n"
            .write(to: run.appendingPathComponent("meta.yaml"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(at: run.appendingPathComponent("artifacts"), withDestinationURL: outside)
        return (root, { try? fm.removeItem(at: base) })
    }

    @Test(arguments: ["../../etc", "..", "a/b", "", "0123456789abcdef0123456789abcdef/../x", "run\u{0}id", String(repeating: "a", count: 65)])
    func testMalformedRunIdIsRefused(_ id: String) throws {
        let (root, cleanup) = try Self.makeStore()
        defer { cleanup() }
        let store = try MLflowStore(root: root)
        let error = #expect(throws: ArtifactError.self) { try store.run(id: id) }
        #expect(error?.kind == .invalidReference)
    }

    @Test(arguments: [
        "runs:/../../etc/passwd", "runs:/0123456789abcdef0123456789abcdef/../../outside",
        "models:/../1/x@champion", "models:/a/b/../../c/1", "models:/name/0", "models:/name/-1", "models:/name/x",
    ])
    func testEscapingModelReferenceIsRefused(_ reference: String) throws {
        let (root, cleanup) = try Self.makeStore()
        defer { cleanup() }
        let store = try MLflowStore(root: root)
        let error = #expect(throws: ArtifactError.self) { try store.resolve(reference) }
        #expect(error?.kind == .invalidReference || error?.kind == .notFound, "\(reference): \(String(describing: error))")
    }

    @Test func testArtifactsSymlinkedOutsideTheStoreAreNotRead() throws {
        let (root, cleanup) = try Self.makeStore()
        defer { cleanup() }
        let store = try MLflowStore(root: root)
        let run = try store.run(id: "0123456789abcdef0123456789abcdef")
        #expect(run.artifactsDirectory == nil, "a symlink leaving the store is not an artifacts folder")
        let error = #expect(throws: ArtifactError.self) { try store.resolve(run.id) }
        #expect(error?.kind == .notFound)
    }

    @Test func testRunIsFoundWithoutKnowingItsExperimentAndForeignArtifactURIIsNotOpened() throws {
        let (root, cleanup) = try Self.makeStore()
        defer { cleanup() }
        let run = try MLflowStore(root: root).run(id: "0123456789abcdef0123456789abcdef")
        #expect(run.experimentName == "battery-hazard")
        #expect(run.status == "FINISHED")
        #expect(run.recordedArtifactURI?.hasPrefix("file:///C:/Users") == true)
    }

    @Test func testUnknownRunIsNotFound() throws {
        let (root, cleanup) = try Self.makeStore()
        defer { cleanup() }
        let error = #expect(throws: ArtifactError.self) { try MLflowStore(root: root).run(id: "ffffffffffffffffffffffffffffffff") }
        #expect(error?.kind == .notFound)
    }

    @Test func testMissingStoreIsNotFound() {
        let error = #expect(throws: ArtifactError.self) { try MLflowStore(root: URL(fileURLWithPath: "/nonexistent/mlruns")) }
        #expect(error?.kind == .notFound)
    }
}
