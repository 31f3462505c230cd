import EMSCore

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
        /// An upstream (EMS Core) answered wrongly or not at all (502).
        case badGateway
        /// An upstream did not answer in time (504).
        case gatewayTimeout
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

    /// EMS Core's failure, naming its status.
    init(_ error: EMSCoreError) {
        switch error {
        case .timedOut: self.init(.gatewayTimeout, code: "ems_core_timeout", error.description)
        case .status(let status, _): self.init(.badGateway, code: "ems_core_error", "EMS Core answered \(status)")
        case .unreachable, .malformed: self.init(.badGateway, code: "ems_core_error", error.description)
        case .tooLarge: self.init(.badGateway, code: "ems_core_too_large", error.description)
        case .tooManySamples: self.init(.unprocessable, code: "too_many_samples", error.description)
        }
    }

    static let noModel = ServiceError(.unavailable, code: "unavailable", "no model is loaded")

    /// Every problem of a request, listed by item and field (at most `ReadingsDecoder.maxDetails`).
    static func invalid(_ details: [APIError.Detail]) -> ServiceError {
        ServiceError(
            .invalid, code: "validation_failed", "\(details.count) problem\(details.count == 1 ? "" : "s") in the request",
            details: Array(details.prefix(ReadingsDecoder.maxDetails)))
    }
}
