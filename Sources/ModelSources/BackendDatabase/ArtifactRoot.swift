import Artifacts
import Foundation

/// Where a backend database's artifacts are on this machine: the artifact root (`mlartifacts/`,
/// what `mlflow server --artifacts-destination` or a client's default wrote into).
///
/// Recorded locations often name another machine or a folder since moved
/// (`file:///home/ci/train/mlartifacts/1/<run>/artifacts`), or the server's proxy
/// (`mlflow-artifacts:/1/<run>/artifacts`). Like the file store, the reader never trusts the
/// recorded place: it rebases the recorded location on the root and looks for it there, inside
/// which every path stays. Two layouts are known:
///
/// - the default one, under an experiment-id folder: `1/<run>/artifacts`, `1/models/m-<id>/artifacts`;
/// - an experiment made with its own `artifact_location` (`mlflow.create_experiment(name,
///   artifact_location=...)`): `<location>/<run>/artifacts`, `<location>/models/m-<id>/artifacts`,
///   no experiment-id folder. The part below the experiment's recorded location is looked for
///   under the root (the location's contents copied there), then under the location's own
///   folder name (the location folder itself copied there).
struct ArtifactRoot: Sendable {
    let path: String

    init(path: String) throws {
        guard let real = SafePath.realPath(path) else {
            throw ModelSourceError.configuration("the MLflow artifact root \(path) does not exist (MLFLOW_ARTIFACT_ROOT)")
        }
        self.path = real
    }

    /// The local folder for a recorded artifact location of an entity (`run id` or `m-<id>`) of
    /// experiment `experimentId`, whose own recorded artifact location is `experimentLocation`;
    /// nil when it is not under the root.
    func folder(recorded: String?, experimentLocation: String?, experimentId: String, entityId: String, kind: Kind) -> String? {
        let relative: String
        switch kind {
        case .run: relative = "\(experimentId)/\(entityId)/artifacts"
        case .loggedModel: relative = "\(experimentId)/models/\(entityId)/artifacts"
        }
        var candidates: [String] = []
        let components = recorded.flatMap(Self.pathComponents)
        // The recorded location's tail, from the experiment id on, when it has the usual shape.
        if let components, let index = components.lastIndex(of: entityId) {
            let start = kind == .run ? index - 1 : index - 2
            if start >= 0 { candidates.append(components[start...].joined(separator: "/")) }
        }
        // The recorded location rebased on the experiment's own recorded location.
        if let components, let base = experimentLocation.flatMap(Self.pathComponents), !base.isEmpty,
            components.count > base.count, Array(components.prefix(base.count)) == base
        {
            let below = components.dropFirst(base.count).joined(separator: "/")
            candidates += [below, "\(base[base.count - 1])/\(below)"]
        }
        candidates.append(relative)
        for candidate in candidates where SafePath.isRelativeArtifactPath(candidate) {
            if let real = SafePath.contained("\(path)/\(candidate)", in: path) { return real }
        }
        return nil
    }

    /// The path segments of a recorded location (`/a/b`, `file:///a/b`, `mlflow-artifacts:/a/b`).
    static func pathComponents(_ location: String) -> [String]? {
        let path = location.hasPrefix("/") ? location : URL(string: location)?.path
        return path?.split(separator: "/").map(String.init)
    }

    enum Kind { case run, loggedModel }
}
