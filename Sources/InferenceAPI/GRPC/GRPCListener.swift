import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOSSL
import ServiceLifecycle

/// The gRPC server on `GRPC_PORT` beside the HTTP one, as one service of the application's
/// group: it starts and stops with it (a graceful shutdown lets calls in flight finish, as the
/// HTTP side does), uses the same TLS files, and a port it cannot bind fails start-up naming
/// `GRPC_PORT`.
struct GRPCListener: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let host: String
    let port: Int
    let logger: Logger
    /// Told the bound port once the server listens (tests ask for any free port).
    let onListening: (@Sendable (Int) -> Void)?

    init(configuration: Configuration, services: [any RegistrableRPCService], logger: Logger) throws {
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile {
            security = .tls(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: key, format: .pem))
        } else {
            security = .plaintext
        }
        // A 1 MiB flow-control window instead of HTTP/2's 64 KiB default: a batch of 1,000 rows is
        // about 120 KB, which under the default waited for a WINDOW_UPDATE round trip mid-request
        // (h2load at 1,000 rows: 379 calls/s before). Credit, not memory: request size stays capped
        // by the transport's 4 MiB payload limit.
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.grpcPort ?? 0), transportSecurity: security,
            config: .defaults { $0.http2.targetWindowSize = 1 << 20; $0.connection.flushCoalescing = nil })
        server = GRPCServer(transport: transport, services: services)
        host = configuration.host
        port = configuration.grpcPort ?? 0
        self.logger = logger
        onListening = configuration.onGRPCListening
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                let bound: Int
                do {
                    bound = try await server.listeningAddress?.ipv4?.port ?? port
                } catch {
                    throw ConfigurationError(variable: "GRPC_PORT", message: "\(host):\(port) cannot be listened on (is another process listening there?)")
                }
                logger.info("grpc listening", metadata: ["address": "\(host):\(bound)"])
                onListening?(bound)
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
