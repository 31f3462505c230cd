import Foundation
import Yams

/// Reading the store's files: run folders (meta.yaml, params/, metrics/, tags/), meta.yaml values,
/// and the directory walks, every path kept inside the root.
extension MLflowStore {
    func loadRun(directory: String, experiment: Experiment) throws -> Run {
        guard let real = SafePath.contained(directory, in: rootPath), let meta = yaml(at: "\(real)/meta.yaml") else {
            throw ArtifactError(.malformed, "run folder has no readable meta.yaml", path: directory)
        }
        let id = (meta["run_id"] as? String) ?? (meta["run_uuid"] as? String) ?? (directory as NSString).lastPathComponent
        let params = keyValues(in: "\(real)/params")
        let tags = keyValues(in: "\(real)/tags")
        var metrics: [String: Metric] = [:]
        for name in files(below: "\(real)/metrics", depth: 4) {
            let key = String(name.dropFirst("\(real)/metrics/".count))
            if let latest = Self.latest(Self.metricLines(name)) { metrics[key] = latest }
        }
        let artifacts = SafePath.contained("\(real)/artifacts", in: rootPath)
        return Run(
            id: id,
            name: (meta["run_name"] as? String) ?? tags["mlflow.runName"],
            experimentId: experiment.id,
            experimentName: experiment.name,
            status: Run.statusName(meta["status"]),
            lifecycleStage: meta["lifecycle_stage"] as? String ?? "active",
            startTime: Self.number(meta["start_time"]),
            endTime: Self.number(meta["end_time"]),
            recordedArtifactURI: meta["artifact_uri"] as? String,
            directory: URL(fileURLWithPath: real, isDirectory: true),
            artifactsDirectory: artifacts.map { URL(fileURLWithPath: $0, isDirectory: true) },
            params: params, metrics: metrics, tags: tags)
    }

    /// A folder of one-value files (params/, tags/), names may contain `/` (nested folders).
    private func keyValues(in directory: String) -> [String: String] {
        var out: [String: String] = [:]
        for file in files(below: directory, depth: 4) {
            let key = String(file.dropFirst(directory.count + 1))
            out[key] = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        }
        return out
    }

    /// Metric files hold lines `<timestamp ms> <value> [<step>]`.
    static func metricLines(_ file: String) -> [Metric] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let value = Double(fields[1]) else { return nil }
            return Metric(value: value, timestamp: Int64(fields[0]) ?? 0, step: fields.count > 2 ? Int64(fields[2]) ?? 0 : 0)
        }
    }

    /// MLflow's "latest" value: the highest step, then the latest timestamp.
    private static func latest(_ history: [Metric]) -> Metric? {
        history.max { ($0.step, $0.timestamp) < ($1.step, $1.timestamp) }
    }

    func yaml(at path: String) -> [String: Any]? {
        guard let real = SafePath.contained(path, in: rootPath),
            let text = try? String(contentsOfFile: real, encoding: .utf8)
        else { return nil }
        return Self.meta(parsing: text)
    }

    /// A meta.yaml mapping. Composed with Yams' basic resolver, so every scalar stays text: the
    /// default resolver compiles its implicit-type regexes with NSRegularExpression, which loads
    /// ICU (megabytes of resident memory) to read a few files whose numbers `number(_:)` reads
    /// from text anyway.
    static func meta(parsing text: String) -> [String: Any]? {
        guard let node = try? Yams.compose(yaml: text, .basic), case .mapping = node else { return nil }
        return plainValue(node) as? [String: Any]
    }

    /// A YAML node as strings, dictionaries and arrays; a plain `null`, `~` or empty scalar is
    /// absent, as with the default resolver.
    private static func plainValue(_ node: Node) -> Any? {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["null", "Null", "NULL", "~", ""].contains(scalar.string) { return nil }
            return scalar.string
        case .mapping(let mapping):
            var out: [String: Any] = [:]
            for (key, value) in mapping {
                if let key = key.string, let value = plainValue(value) { out[key] = value }
            }
            return out
        case .sequence(let sequence):
            return sequence.compactMap(plainValue)
        case .alias:
            return nil
        }
    }

    func childDirectories(of path: String) throws -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return entries.filter { entry in
            var isDirectory: ObjCBool = false
            return !entry.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(path)/\(entry)", isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
    }

    func childFiles(of path: String) throws -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return entries.filter { entry in
            var isDirectory: ObjCBool = false
            return !entry.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(path)/\(entry)", isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }
    }

    func files(below path: String, depth: Int) -> [String] {
        ModelFiles.files(below: path, depth: depth, root: rootPath)
    }

    func findMLmodel(below path: String, depth: Int) -> String? {
        ModelFiles.findMLmodel(below: path, depth: depth, root: rootPath)
    }

    static func number(_ value: Any?) -> Double? {
        switch value {
        case let i as Int: return Double(i)
        case let d as Double: return d
        case let s as String: return Double(s)
        default: return nil
        }
    }
}
