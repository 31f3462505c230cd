import Metrics

extension Telemetry {
    /// One gRPC call: `grpc_server_handled_total{grpc_method, grpc_code}` and its time in
    /// `grpc_server_handling_seconds{grpc_method}` (the names of grpc-ecosystem's Prometheus
    /// interceptors, which dashboards for gRPC services already read).
    func grpcCall(method: String, code: String, nanoseconds: UInt64) {
        counter("grpc_server_handled_total", [("grpc_method", method), ("grpc_code", code)]).increment()
        Metrics.Timer(label: "grpc_server_handling_seconds", dimensions: [("grpc_method", method)], factory: factory)
            .recordNanoseconds(Int64(clamping: nanoseconds))
    }
}
