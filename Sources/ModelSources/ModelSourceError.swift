/// Why a model source could not answer: the MLflow side, not the reference, is the problem.
/// (A reference that names nothing is an `ArtifactError(.notFound)`, as with the file store.)
public enum ModelSourceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The database or server cannot be reached (refused, timed out, 5xx after the retries).
    case unreachable(String)
    /// The server refused our credentials (401) or the permission (403).
    case unauthorized(String)
    /// The server answered something this client cannot read.
    case protocolError(String)
    /// `MLFLOW_TRACKING_URI` (or a related variable) is unusable.
    case configuration(String)

    public var description: String {
        switch self {
        case .unreachable(let m), .unauthorized(let m), .protocolError(let m), .configuration(let m): m
        }
    }

    /// The reason alone, for a line that names the target itself: `connection refused (3 attempts)`
    /// from `http://host:5000 cannot be reached: connection refused (3 attempts)`.
    public var cause: String {
        guard let range = description.range(of: " cannot be reached: ") else { return description }
        return String(description[range.upperBound...])
    }
}
