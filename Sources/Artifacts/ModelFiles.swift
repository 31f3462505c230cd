import Foundation

/// What a model folder on local disk holds: `MLmodel`, the xgboost flavor's booster file and the
/// scaler logged beside it. Every source ends here: a file store's run folder, a backend
/// database's artifact root, a tracking server's download cache. Every path stays inside `root`
/// (symlinks resolved).
public enum ModelFiles {
    /// The location of the model in `modelDirectory`, for `run` (whose `artifactsDirectory` is
    /// searched for the scaler first).
    /// - Throws: `.unsupported` without an xgboost flavor, `.notFound` when a file is missing.
    public static func location(
        run: Run, modelDirectory: String, root: String, uri: String, loggedModelId: String?
    ) throws -> ModelLocation {
        let mlmodel = try MLmodel(contentsOf: URL(fileURLWithPath: "\(modelDirectory)/MLmodel"))
        guard let flavor = mlmodel.xgboost else {
            throw ArtifactError(
                .unsupported, "the model has no xgboost flavor (flavors: \(mlmodel.flavors.joined(separator: ", ")))",
                path: "\(modelDirectory)/MLmodel")
        }
        guard SafePath.isRelativeArtifactPath(flavor.data),
            let booster = SafePath.contained("\(modelDirectory)/\(flavor.data)", in: root)
        else {
            throw ArtifactError(.notFound, "the xgboost flavor's data file '\(flavor.data)' is missing", path: modelDirectory)
        }
        return ModelLocation(
            uri: uri, run: run, modelDirectory: URL(fileURLWithPath: modelDirectory),
            boosterFile: URL(fileURLWithPath: booster), mlmodel: mlmodel,
            scalerFile: findScaler(run: run, modelDirectory: modelDirectory, root: root).map { URL(fileURLWithPath: $0) },
            loggedModelId: loggedModelId ?? mlmodel.modelId, registry: nil)
    }

    /// The folder holding `MLmodel` in `folder` (or at `artifactPath` below it); without a path,
    /// the shallowest `MLmodel` within three levels. Nil when there is none.
    public static func modelDirectory(in folder: String, artifactPath: String?, root: String) -> String? {
        let candidate = artifactPath.map { "\(folder)/\($0)" } ?? folder
        guard let real = SafePath.contained(candidate, in: root) else { return nil }
        if FileManager.default.fileExists(atPath: "\(real)/MLmodel") { return real }
        return artifactPath == nil ? findMLmodel(below: real, depth: 3, root: root) : nil
    }

    /// The scaler logged beside the model: `scaler.joblib` (or `.pkl`) in the run's artifacts or
    /// the model directory, else the only `*scaler*.joblib|pkl` within two levels.
    static func findScaler(run: Run, modelDirectory: String, root: String) -> String? {
        var places = [modelDirectory]
        if let artifacts = run.artifactsDirectory?.path { places.insert(artifacts, at: 0) }
        for place in places {
            for name in ["scaler.joblib", "scaler.pkl", "preprocessing/scaler.joblib", "preprocessor/scaler.joblib"] {
                if let real = SafePath.contained("\(place)/\(name)", in: root) { return real }
            }
        }
        for place in places {
            let found = files(below: place, depth: 2, root: root).filter {
                let name = ($0 as NSString).lastPathComponent.lowercased()
                return name.contains("scaler") && (name.hasSuffix(".joblib") || name.hasSuffix(".pkl"))
            }
            if found.count == 1 { return found[0] }
        }
        return nil
    }

    /// Regular files below `path` (depth-limited, symlinks leaving the root skipped), full paths.
    static func files(below path: String, depth: Int, root: String) -> [String] {
        guard depth > 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        var out: [String] = []
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let full = "\(path)/\(entry)"
            guard SafePath.contained(full, in: root) != nil else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue { out += files(below: full, depth: depth - 1, root: root) } else { out.append(full) }
        }
        return out
    }

    static func findMLmodel(below path: String, depth: Int, root: String) -> String? {
        files(below: path, depth: depth, root: root)
            .filter { ($0 as NSString).lastPathComponent == "MLmodel" }
            .min { $0.count < $1.count }
            .map { ($0 as NSString).deletingLastPathComponent }
    }
}
