import Artifacts
import Foundation

/// Where a backend database's artifacts are on this machine: the artifact root (`mlartifacts/`,
/// what `mlflow server --artifacts-destination` or a client's default wrote into).
///
/// Recorded locations often name another machine or a folder since moved
/// (`file:///home/ci/train/mlartifacts/1/<run>/artifacts`), or the server's proxy
/// (`mlflow-artifacts:/1/<run>/artifacts`). Like the file store, the reader never trusts the
/// recorded place: it keeps the part from the experiment id on (`1/<run>/artifacts`,
/// `1/models/m-<id>/artifacts`) and looks for it under the root, inside which every path stays.
struct ArtifactRoot: Sendable {
    let path: String

    init(path: String) throws {
        guard let real = SafePath.realPath(path) else {
            throw ModelSourceError.configuration("the MLflow artifact root \(path) does not exist (MLFLOW_ARTIFACT_ROOT)")
        }
        self.path = real
    }

    /// The local folder for a recorded artifact location of an entity (`run id` or `m-<id>`) of
    /// experiment `experimentId`; nil when it is not under the root.
    func folder(recorded: String?, experimentId: String, entityId: String, kind: Kind) -> String? {
        let relative: String
        switch kind {
        case .run: relative = "\(experimentId)/\(entityId)/artifacts"
        case .loggedModel: relative = "\(experimentId)/models/\(entityId)/artifacts"
        }
        var candidates: [String] = []
        // The recorded location's tail, from the experiment id on, when it has the usual shape.
        if let recorded, let components = URL(string: recorded)?.path.split(separator: "/").map(String.init),
            let index = components.lastIndex(of: entityId)
        {
            let start = kind == .run ? index - 1 : index - 2
            if start >= 0 {
                let tail = components[start...].joined(separator: "/")
                if SafePath.isRelativeArtifactPath(tail) { candidates.append(tail) }
            }
        }
        candidates.append(relative)
        for candidate in candidates {
            if let real = SafePath.contained("\(path)/\(candidate)", in: path) { return real }
        }
        return nil
    }

    enum Kind { case run, loggedModel }
}
