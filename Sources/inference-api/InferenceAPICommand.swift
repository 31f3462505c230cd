import ArgumentParser
import Foundation
import InferenceAPI
import Logging
import NIOCore
import NIOPosix

@main
struct InferenceAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference-api",
        abstract: "Battery-hazard and EMS anomaly inference service.",
        discussion: "Exit codes: 0 stopped cleanly; 2 a configuration error (a bad setting, a port in use); 3 a dependency the configuration names cannot be reached at start-up (the database).",
        subcommands: [Serve.self, Doctor.self, Predict.self, Models.self, ForestTiming.self, BenchLimits.self, EvalAnomaly.self, EvalForecast.self, ForecastCSV.self, FuzzParsers.self, BenchFloor.self, BenchGRPC.self],
        defaultSubcommand: Serve.self)

    /// `serve` is the default subcommand, so a mistyped subcommand would otherwise reach `serve`
    /// as a stray argument and print `serve`'s usage: name the subcommands instead.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let names = configuration.subcommands.map { $0._commandName }
        if let first = arguments.first, !first.hasPrefix("-"), !names.contains(first), first != "help" {
            FileHandle.standardError.write(Data("inference-api: unknown subcommand '\(first)'; the subcommands are: \(names.joined(separator: ", ")) (serve is the default)\n".utf8))
            Self.exit(withError: ExitCode(2))
        }
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            Self.exit(withError: error)
        }
    }
}

/// Options shared by subcommands that read the model store; flags override the environment.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("mlruns"), help: "MLflow file store (MLRUNS_DIR).")
    var mlruns: String?

    @Option(name: .customLong("model"), help: "Run id or model URI to serve (BEST_MLFLOW_RUN_ID / MODEL_URI).")
    var model: String?

    func configuration() async throws -> Configuration {
        var configuration = try await Configuration.load(environment: ProcessInfo.processInfo.environment)
        if let mlruns { configuration.mlrunsDirectory = mlruns }
        if let model { configuration.modelReference = model }
        return configuration
    }
}

/// `serve`'s and `doctor`'s options: the store's, and the address to bind.
struct ListenOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    @Option(help: "Address to bind (HOST).")
    var host: String?

    @Option(help: "Port to bind (PORT).")
    var port: Int?

    /// The configuration with the flags applied; a bad setting or flag is printed as one line and
    /// exits 2.
    func configuration() async throws -> Configuration {
        var configuration: Configuration
        do {
            configuration = try await store.configuration()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        if let host { configuration.host = host }
        if let port {
            guard (0...65535).contains(port) else {
                FileHandle.standardError.write(Data("configuration error: --port must be from 0 to 65535 (got \(port))\n".utf8))
                throw ExitCode(2)
            }
            configuration.port = port
        }
        return configuration
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the HTTP API (default).")

    @OptionGroup var listen: ListenOptions

    func run() async throws {
        let configuration = try await listen.configuration()
        // Before any server task exists: from here on, a task resumed by I/O stays on the event
        // loop that resumed it, unisolated (`EventLoopExecutor`: one hop per 1-reading /predict
        // instead of 100 with NIO's own takeover, the bare-route share 0.52 -> 0.69 in
        // check-hot-path). Blocking work (big bodies, forest fitting, SQLite) runs on
        // NIOThreadPool, so it holds no event loop.
        let onEventLoops = configuration.taskExecutor == .eventLoops && EventLoopExecutor.install()
        let level = configuration.logLevel
        let json = configuration.logFormat == "json"
        LoggingSystem.bootstrap { label -> any LogHandler in
            LineLogHandler(label: label, level: level, format: json ? .json : .text)
        }
        let logger = Logger(label: "inference-api")
        logger.info(
            "task executor",
            metadata: ["executor": "\(onEventLoops ? "event-loops" : "global")", "requested": "\(configuration.taskExecutor.rawValue)"])
        do {
            try configuration.checkExposure()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        do {
            let app = try await buildApplication(configuration: configuration, logger: logger)
            try await runApplication(app, configuration: configuration, logger: logger)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(3)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            FileHandle.standardError.write(
                Data("configuration error: PORT: \(configuration.host):\(configuration.port) is already in use (another process listens there)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration and reach every dependency it names, without serving.",
        discussion: "Prints one line per dependency: ok, or FAILED and why. Exit codes as serve's: 0 all reached, 2 a configuration error, 3 a dependency not reached.")

    @OptionGroup var listen: ListenOptions

    func run() async throws {
        let configuration = try await listen.configuration()
        var logger = Logger(label: "inference-api doctor")
        logger.logLevel = .critical
        let checks = await InferenceAPI.Doctor.run(configuration: configuration, logger: logger)
        for check in checks {
            print("\(check.ok ? "ok    " : "FAILED") \(check.name): \(check.detail)")
        }
        let failed = checks.filter { !$0.ok }
        guard failed.isEmpty else {
            print("\(failed.count) of \(checks.count) checks failed")
            // A setting that is wrong (access, TLS files, a port in use, as serve says) is a
            // configuration error; anything else is a dependency that was not reached.
            throw ExitCode(failed.allSatisfy { $0.name.hasPrefix("access") || $0.name.hasPrefix("TLS") || $0.name.contains("listen address") } ? 2 : 3)
        }
        print("all \(checks.count) checks passed")
    }
}

/// A command that cannot do its work (a file it cannot read, a store that is not there): printed
/// as one `Error:` line. `ValidationError` is for arguments: ArgumentParser prints the usage after
/// it, which for these said nothing useful (and was the root command's).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
