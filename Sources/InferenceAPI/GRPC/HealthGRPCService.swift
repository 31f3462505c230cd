import GRPCCore

/// gRPC's health checking protocol (`grpc.health.v1.Health`), which Kubernetes' gRPC probes
/// call: the server (`""`) and `inference.GRPCInferenceService` are SERVING once a model is
/// loaded, NOT_SERVING before; any other service name is NOT_FOUND, as the protocol says. Open,
/// like `/ready`. `Watch` sends the status, then each change (checked every second), until the
/// client goes or the server begins to stop.
struct HealthGRPCService: Grpc_Health_V1_Health.ServiceProtocol {
    let models: ModelService
    let calls: GRPCCalls
    static let services: Set<String> = ["", "inference.GRPCInferenceService"]

    func status(of service: String) throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        guard Self.services.contains(service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(service.prefix(200))'; this server reports on \"\" and inference.GRPCInferenceService")
        }
        return models.active == nil ? .notServing : .serving
    }

    func check(
        request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext
    ) async throws -> ServerResponse<Grpc_Health_V1_HealthCheckResponse> {
        try await calls.handle("Check", request.metadata, context, access: nil) { _ in
            let current = try status(of: request.message.service)
            return Grpc_Health_V1_HealthCheckResponse.with { $0.status = current }
        }
    }

    func watch(
        request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Grpc_Health_V1_HealthCheckResponse> {
        let service = request.message.service
        let first = try status(of: service)
        let cancellation = context.cancellation
        return StreamingServerResponse { writer in
            var last = first
            try await writer.write(.with { $0.status = last })
            // Until the client goes or the server stops (its graceful shutdown cancels the calls
            // in flight once it stops taking new ones; a watch must not hold it up).
            while !Task.isCancelled, !cancellation.isCancelled {
                try await Task.sleep(for: .seconds(1))
                let now = try status(of: service)
                if now != last {
                    last = now
                    try await writer.write(.with { $0.status = now })
                }
            }
            return [:]
        }
    }
}

