/// Which scope each route needs, in one table: a route missing from it needs `models:admin`
/// (closed by default), and a test checks that every registered route is listed.
struct AccessPolicy: Sendable {
    enum Access: Sendable, Equatable {
        /// Liveness and readiness: no credentials, no rate limit (probes must always get through).
        case probe
        /// No credentials needed, rate limited per client address (the login route, the API document).
        case open
        case scope(Scope)
    }

    let metricsNeedCredentials: Bool

    /// Routes by "METHOD pattern".
    static let table: [String: Access] = [
        "GET /health": .probe,
        "GET /ready": .probe,
        "GET /model-health": .probe,
        "GET /v2/health/live": .probe,
        "GET /v2/health/ready": .probe,
        "GET /openapi.json": .open,
        "GET /v2": .open,
        "POST /auth/token": .open,
        "POST /predict": .scope(.predict),
        "POST /feedback": .scope(.predict),
        "GET /v2/models/{name}": .scope(.predict),
        "GET /v2/models/{name}/versions/{version}": .scope(.predict),
        "GET /v2/models/{name}/ready": .scope(.predict),
        "GET /v2/models/{name}/versions/{version}/ready": .scope(.predict),
        "POST /v2/models/{name}/infer": .scope(.predict),
        "POST /v2/models/{name}/versions/{version}/infer": .scope(.predict),
        "GET /models": .scope(.modelsAdmin),
        "GET /models/active": .scope(.modelsAdmin),
        "POST /models/activate": .scope(.modelsAdmin),
        "GET /models/active/performance": .scope(.modelsAdmin),
        "POST /anomaly/detect": .scope(.anomalyWrite),
        "POST /anomaly/train": .scope(.anomalyWrite),
        "GET /anomaly/scores/{asset_id}": .scope(.anomalyRead),
        "GET /anomaly/models": .scope(.anomalyRead),
        "GET /metrics": .scope(.metricsRead),
        "GET /drift": .scope(.metricsRead),
    ]

    func access(method: String, pattern: String) -> Access {
        if pattern == "/metrics", !metricsNeedCredentials { return .open }
        return Self.table["\(method) \(pattern)"] ?? .scope(.modelsAdmin)
    }
}
