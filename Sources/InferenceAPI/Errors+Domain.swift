import Artifacts
import Hummingbird
import ModelSources
import Storage

/// The one mapping from the domain's errors to HTTP answers; `ErrorEnvelope` applies it
/// to whatever a handler throws. Services never pick a status: they throw domain errors, mapped
/// here. Controllers throw `APIError` themselves only about the HTTP request as such (its body's
/// type, size and JSON, a query value, a login, a file of the page that does not exist).
extension APIError {
    /// The answer for a domain error; nil for anything else (store failures and Hummingbird's
    /// own errors are `ErrorEnvelope`'s).
    static func mapping(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: error
        case let error as ServiceError: APIError(error)
        case let error as ReadingsDecoder.Failure: APIError(error)
        case let error as ArtifactError: APIError(error)
        case let error as ModelSourceError: APIError(error)
        // Nobody reads it; nginx's 499 keeps it out of the 5xx counts and says what happened.
        case is CallerGone: APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), code: "client_closed_request", message: "\(error)")
        default: nil
        }
    }

    init(_ error: ServiceError) {
        let status: HTTPResponse.Status = switch error.kind {
        case .invalid: .badRequest
        case .unprocessable: .unprocessableContent
        case .unavailable: .serviceUnavailable
        case .badGateway: .badGateway
        case .gatewayTimeout: .gatewayTimeout
        }
        self.init(status, code: error.code, message: error.message, details: error.details)
    }

    init(_ failure: ReadingsDecoder.Failure) {
        switch failure {
        case .syntax(let message):
            self.init(.badRequest, code: "invalid_json", message: message)
        case .invalid(let message, let details):
            self = .validation(message, details)
        case .tooMany(let limit):
            self.init(.contentTooLarge, code: "too_many_readings", message: "at most \(limit) readings per request (MAX_READINGS_PER_REQUEST); split the batch")
        }
    }

    /// The model source (MLflow's database or tracking server) failed, not the client: 503 while it
    /// cannot be reached, 502 when it refuses our credentials or answers nonsense.
    init(_ error: ModelSourceError) {
        let message = "\(error.description); the previous model keeps serving"
        switch error {
        case .unreachable: self.init(.serviceUnavailable, code: "model_source_unavailable", message: message)
        case .unauthorized: self.init(.badGateway, code: "model_source_unauthorized", message: message)
        case .protocolError, .configuration: self.init(.badGateway, code: "model_source_error", message: message)
        }
    }

    /// Load failures are the client's choice of model: 400 malformed reference, 404 missing,
    /// 422 present but not servable. The old model keeps serving in every case.
    init(_ error: ArtifactError) {
        let message = "\(error.message); the previous model keeps serving"
        switch error.kind {
        case .invalidReference: self.init(.badRequest, code: "invalid_reference", message: message)
        case .notFound: self.init(.notFound, code: "model_not_found", message: message)
        case .forbiddenClass, .malformed, .unsupported, .mismatch, .xgboost:
            self.init(.unprocessableContent, code: "model_not_servable", message: message)
        }
    }
}
