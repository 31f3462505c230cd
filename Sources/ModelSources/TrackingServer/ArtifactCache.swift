import Artifacts
import Crypto
import Foundation

/// Downloaded artifacts on local disk, one folder per run (`runs/<run id>/`) or logged model
/// (`models/<m-id>/`) under a folder per server, so a restart does not download again and the
/// service can start on the last model it served while the server is down.
///
/// A folder counts only with its manifest (`.manifest.json`: every file's size and SHA-256,
/// written after the last byte) and only while every file still matches it; a folder is built
/// under a temporary name and renamed into place, so a crash mid-download leaves nothing that
/// counts. The reference -> model answers (`refs/<sha256 of reference>.json`) are what an
/// offline start-up resolves from.
struct ArtifactCache: Sendable {
    struct Manifest: Codable {
        struct Entry: Codable {
            let path: String
            let size: Int
            let sha256: String
        }
        let files: [Entry]
    }

    enum Kind: String { case runs, models }

    /// The cache folder, symlinks resolved.
    let root: String

    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let real = SafePath.realPath(directory) else {
            throw ModelSourceError.configuration("MODEL_CACHE_DIR \(directory) cannot be created")
        }
        root = real
        for sub in ["runs", "models", "refs", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
        }
    }

    func folder(_ kind: Kind, _ id: String) -> String { "\(root)/\(kind.rawValue)/\(id)" }

    /// The folder if it is complete and every file matches its manifest.
    func verified(_ kind: Kind, _ id: String) -> String? {
        guard SafePath.isIdentifier(id) else { return nil }
        let folder = folder(kind, id)
        guard let data = FileManager.default.contents(atPath: "\(folder)/.manifest.json"),
            let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
        else { return nil }
        for entry in manifest.files {
            guard SafePath.isRelativeArtifactPath(entry.path),
                let file = SafePath.contained("\(folder)/\(entry.path)", in: root),
                let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                (attributes[.size] as? NSNumber)?.intValue == entry.size,
                let bytes = FileManager.default.contents(atPath: file),
                Self.hex(SHA256.hash(data: bytes)) == entry.sha256
            else { return nil }
        }
        return folder
    }

    /// Fills a fresh temporary folder with `fill` (which returns the manifest entries), writes the
    /// manifest and moves the folder into place. A folder already verified is returned as is.
    func store(_ kind: Kind, _ id: String, fill: (URL) async throws -> [Manifest.Entry]) async throws -> String {
        guard SafePath.isIdentifier(id) else {
            throw ModelSourceError.protocolError("the server named an artifact owner '\(MLflowStore.printable(id))' that is not an id")
        }
        if let folder = verified(kind, id) { return folder }
        let staging = URL(fileURLWithPath: "\(root)/tmp/\(kind.rawValue)-\(id)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: staging) }
        let entries = try await fill(staging)
        try JSONEncoder().encode(Manifest(files: entries)).write(to: staging.appendingPathComponent(".manifest.json"))
        let destination = folder(kind, id)
        try? FileManager.default.removeItem(atPath: destination)  // an incomplete or corrupt copy
        do {
            try FileManager.default.moveItem(atPath: staging.path, toPath: destination)
        } catch {
            // Another download of the same folder won the race: use it if it verifies.
            guard let folder = verified(kind, id) else { throw error }
            return folder
        }
        return destination
    }

    // MARK: - References

    /// What a reference resolved to, enough to rebuild the location from the cache alone.
    struct Resolution: Codable {
        struct RunSnapshot: Codable {
            let id: String
            let name: String?
            let experimentId: String
            let experimentName: String
            let status: String
            let startTime: Double?
            let endTime: Double?
            let recordedArtifactURI: String?
            let params: [String: String]
            let metrics: [String: Metric]
            let tags: [String: String]
        }
        let reference: String
        let run: RunSnapshot
        /// Paths relative to the cache root.
        let modelDirectory: String
        let runArtifacts: String?
        let loggedModelId: String?
        let registryName: String?
        let registryVersion: Int?
        let registryAlias: String?
        let savedAt: Date
    }

    private func referenceFile(_ reference: String) -> String {
        "\(root)/refs/\(Self.hex(SHA256.hash(data: Data(reference.utf8)))).json"
    }

    func save(_ location: ModelLocation, for reference: String) {
        let run = location.run
        func relative(_ path: String) -> String? {
            path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : nil
        }
        guard let model = relative(location.modelDirectory.path) else { return }
        let resolution = Resolution(
            reference: reference,
            run: .init(
                id: run.id, name: run.name, experimentId: run.experimentId, experimentName: run.experimentName, status: run.status,
                startTime: run.startTime, endTime: run.endTime, recordedArtifactURI: run.recordedArtifactURI, params: run.params,
                metrics: run.metrics, tags: run.tags),
            modelDirectory: model, runArtifacts: run.artifactsDirectory.flatMap { relative($0.path) },
            loggedModelId: location.loggedModelId, registryName: location.registry?.name, registryVersion: location.registry?.version,
            registryAlias: location.registry?.alias, savedAt: Date())
        try? JSONEncoder().encode(resolution).write(to: URL(fileURLWithPath: referenceFile(reference)), options: .atomic)
    }

    /// The location `reference` last resolved to, rebuilt from verified cache folders only.
    func location(for reference: String) throws -> (ModelLocation, Date) {
        guard let data = FileManager.default.contents(atPath: referenceFile(reference)),
            let saved = try? JSONDecoder().decode(Resolution.self, from: data), saved.reference == reference
        else { throw ArtifactError(.notFound, "'\(MLflowStore.printable(reference))' was never downloaded into the cache \(root)") }
        for folder in [saved.modelDirectory] + (saved.runArtifacts.map { [$0] } ?? []) {
            let parts = folder.split(separator: "/").map(String.init)
            guard parts.count >= 2, let kind = Kind(rawValue: parts[0]), verified(kind, parts[1]) != nil else {
                throw ArtifactError(.mismatch, "the cached copy of \(folder) no longer matches its manifest (size or SHA-256)")
            }
        }
        let snapshot = saved.run
        let artifacts = saved.runArtifacts.map { URL(fileURLWithPath: "\(root)/\($0)", isDirectory: true) }
        let run = Run(
            id: snapshot.id, name: snapshot.name, experimentId: snapshot.experimentId, experimentName: snapshot.experimentName,
            status: snapshot.status, lifecycleStage: "active", startTime: snapshot.startTime, endTime: snapshot.endTime,
            recordedArtifactURI: snapshot.recordedArtifactURI, directory: URL(fileURLWithPath: root, isDirectory: true),
            artifactsDirectory: artifacts, params: snapshot.params, metrics: snapshot.metrics, tags: snapshot.tags)
        var location = try ModelFiles.location(
            run: run, modelDirectory: "\(root)/\(saved.modelDirectory)", root: root, uri: reference, loggedModelId: saved.loggedModelId)
        if let name = saved.registryName, let version = saved.registryVersion {
            location.registry = ModelLocation.Registry(name: name, version: version, alias: saved.registryAlias)
        }
        return (location, saved.savedAt)
    }

    /// What the default selection (no `MODEL_URI` nor `BEST_MLFLOW_RUN_ID`) chose the last time
    /// the server answered, and by which rule (`selection`): the reference an offline start-up
    /// without a configured one looks for.
    private struct DefaultChoice: Codable {
        let selection: String
        let reference: String
    }

    private var defaultFile: String { "\(root)/refs/default.json" }

    func saveDefault(_ reference: String, selection: String) {
        try? JSONEncoder().encode(DefaultChoice(selection: selection, reference: reference))
            .write(to: URL(fileURLWithPath: defaultFile), options: .atomic)
    }

    func defaultReference(selection: String) -> String? {
        guard let data = FileManager.default.contents(atPath: defaultFile),
            let choice = try? JSONDecoder().decode(DefaultChoice.self, from: data), choice.selection == selection
        else { return nil }
        return choice.reference
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
