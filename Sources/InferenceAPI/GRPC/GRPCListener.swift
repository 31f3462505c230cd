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
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.grpcPort ?? 0), transportSecurity: security)
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
