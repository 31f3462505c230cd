/// What a service refuses, in the service's words. `APIError.init(_:)` (Errors+Domain.swift) is
/// the one place that turns it, and the other domain errors, into an HTTP status.
struct ServiceError: Error, Sendable {
    enum Kind: Sendable {
        /// The request breaks the contract (400).
        case invalid
        /// Well formed, but cannot be done with what it names (422).
        case unprocessable
        /// Something the service needs is not there yet (503).
        case unavailable
    }

    let kind: Kind
    let code: String
    let message: String
    let details: [APIError.Detail]

    init(_ kind: Kind, code: String, _ message: String, details: [APIError.Detail] = []) {
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details
    }

    static let noModel = ServiceError(.unavailable, code: "unavailable", "no model is loaded")

    /// Every problem of a request, listed by item and field (at most `ReadingsDecoder.maxDetails`).
    static func invalid(_ details: [APIError.Detail]) -> ServiceError {
        ServiceError(
            .invalid, code: "validation_failed", "\(details.count) problem\(details.count == 1 ? "" : "s") in the request",
            details: Array(details.prefix(ReadingsDecoder.maxDetails)))
    }
}
