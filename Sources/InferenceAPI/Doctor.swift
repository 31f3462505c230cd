import Artifacts
import Foundation
import Logging
import ModelSources
import NIOCore
import NIOPosix
import Storage

/// `inference-api doctor`: every dependency the configuration names, reached the way `serve`
/// reaches it at start-up, without serving: no migration, no database file created, the port
/// bound and released at once (a tracking-server source fills its download cache, as `serve`
/// would). One check per dependency, reached or the reason in words, so a deployment can be
/// checked before it is started.
public enum Doctor {
    public struct Check: Sendable {
        /// What was checked, with the variables that configure it.
        public let name: String
        public let ok: Bool
        public let detail: String
    }

    public static func run(configuration: Configuration, logger: Logger) async -> [Check] {
        var checks: [Check] = []
        do {
            try configuration.checkExposure()
            checks.append(
                Check(
                    name: "access (API_KEYS, AUTH_*, JWT_SECRET, HOST)", ok: true,
                    detail: configuration.developmentMode
                        ? "development mode: no credentials, loopback only (\(configuration.host))" : "credentials configured"))
        } catch {
            checks.append(Check(name: "access (API_KEYS, AUTH_*, JWT_SECRET, HOST)", ok: false, detail: "\(error)"))
        }
        checks.append(await model(configuration, logger: logger))
        checks.append(await database(configuration, logger: logger))
        do {
            let tls = try tlsConfiguration(configuration)
            checks.append(Check(name: "TLS (TLS_CERT_FILE, TLS_KEY_FILE)", ok: true, detail: tls == nil ? "off: plain HTTP" : "certificate and key read"))
        } catch {
            checks.append(Check(name: "TLS (TLS_CERT_FILE, TLS_KEY_FILE)", ok: false, detail: "\(error)"))
        }
        checks.append(await port(configuration))
        if let grpc = await grpcPort(configuration) { checks.append(grpc) }
        if let ems = configuration.emsCore {
            checks.append(Check(name: "EMS Core (EMS_CORE_URL)", ok: true, detail: "\(StartupError.redacted(ems.baseURL)): configured; not called (a call would be a delivery)"))
        } else {
            checks.append(Check(name: "EMS Core (EMS_CORE_URL)", ok: true, detail: "off: episodes are recorded, nothing is sent"))
        }
        return checks
    }

    /// The model `serve` would load first, from the source `MLFLOW_TRACKING_URI` names.
    static func model(_ configuration: Configuration, logger: Logger) async -> Check {
        let name = "model (MLFLOW_TRACKING_URI, MLRUNS_DIR, MODEL_URI, BEST_MLFLOW_RUN_ID)"
        let source: any ModelSource
        do {
            source = try await openModelSource(configuration, logger: logger)
        } catch {
            return Check(name: name, ok: false, detail: "\(error)")
        }
        let models = ModelService(
            source: source, configuredReference: configuration.modelReference, selectMetric: configuration.modelSelectMetric,
            predictor: configuration.predictor, logger: logger)
        let check: Check
        do {
            let (model, reference) = try await models.activateAtStartup(reachWithin: .seconds(configuration.startupTimeoutSeconds))
            check = Check(name: name, ok: true, detail: "\(reference): run \(model.runId) from \(source.description), loaded in \(Int(model.loadSeconds * 1000)) ms")
        } catch let error as ModelSourceError {
            check = Check(name: name, ok: false, detail: "\(StartupError.modelSource(error, configuration: configuration))")
        } catch {
            check = Check(name: name, ok: false, detail: "\(error)")
        }
        await source.close()
        return check
    }

    /// PostgreSQL: one connection within `STARTUP_TIMEOUT_SECONDS`. SQLite: the file or the
    /// folder it would be created in, checked without creating either.
    static func database(_ configuration: Configuration, logger: Logger) async -> Check {
        if let url = configuration.databaseURL {
            let name = "database (DATABASE_URL)"
            do {
                try await StartupError.probePostgres(
                    url: url, variable: "DATABASE_URL", shown: url, timeout: .seconds(configuration.startupTimeoutSeconds), logger: logger)
                return Check(name: name, ok: true, detail: "\(StartupError.redacted(url)): reachable")
            } catch {
                return Check(name: name, ok: false, detail: "\(error)")
            }
        }
        let name = "database (SQLITE_PATH)"
        let path = configuration.sqlitePath
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { return Check(name: name, ok: false, detail: "\(path) is a folder, not a database file") }
            guard files.isWritableFile(atPath: path) else { return Check(name: name, ok: false, detail: "\(path) is not writable") }
            return Check(name: name, ok: true, detail: "\(path): exists, writable")
        }
        var folder = (path as NSString).deletingLastPathComponent
        if folder.isEmpty { folder = "." }
        // The nearest folder that exists: start-up creates the missing ones under it.
        while !files.fileExists(atPath: folder), folder != "/", !folder.isEmpty {
            folder = (folder as NSString).deletingLastPathComponent
        }
        guard files.isWritableFile(atPath: folder.isEmpty ? "." : folder) else {
            return Check(name: name, ok: false, detail: "\(path) would be created, but \(folder) is not writable")
        }
        return Check(name: name, ok: true, detail: "\(path): created at start-up (\(folder) is writable)")
    }

    /// `HOST`:`PORT` bound and released at once.
    static func port(_ configuration: Configuration) async -> Check {
        await bindable("listen address (HOST, PORT)", host: configuration.host, port: configuration.port)
    }

    /// `HOST`:`GRPC_PORT` likewise, when gRPC is served.
    static func grpcPort(_ configuration: Configuration) async -> Check? {
        guard let port = configuration.grpcPort else { return nil }
        return await bindable("gRPC listen address (HOST, GRPC_PORT)", host: configuration.host, port: port)
    }

    static func bindable(_ name: String, host: String, port: Int) async -> Check {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: host, port: port).get()
            try await channel.close()
            return Check(name: name, ok: true, detail: "\(host):\(port) is free")
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            return Check(name: name, ok: false, detail: "\(host):\(port) is already in use (another process listens there)")
        } catch {
            return Check(name: name, ok: false, detail: "\(host):\(port) cannot be bound: \(error)")
        }
    }
}
