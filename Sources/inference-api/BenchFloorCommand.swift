import ArgumentParser
import Foundation
import Hummingbird
import NIOCore

/// `inference-api bench-floor`: the framework's floor for `make bench`. The same binary, the same
/// Hummingbird server, one route and no middleware: `POST /floor/{size}` reads the whole body and
/// answers the static bytes of `DIR/r{size}.json` (the copy of the Swift answer nginx serves).
/// `/predict` at 1 reading against this is the share of the framework's own ceiling the service
/// keeps after validation, auth, metrics, logging and the model.
struct BenchFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-floor", abstract: "A bare static route on the same server stack, the HTTP floor for make bench.")

    @Option(help: "Port on 127.0.0.1.") var port = 8090
    @Option(help: "Folder holding r1.json, r100.json, r1000.json.") var answers: String

    func run() async throws {
        var bodies: [String: ByteBuffer] = [:]
        for size in ["1", "100", "1000"] {
            bodies[size] = ByteBuffer(data: try Data(contentsOf: URL(fileURLWithPath: "\(answers)/r\(size).json")))
        }
        let router = Router()
        let frozen = bodies
        router.post("floor/{size}") { request, context -> Response in
            _ = try await request.body.collect(upTo: 64 << 20)
            guard let body = frozen[context.parameters.get("size") ?? ""] else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        router.get("ready") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "bench-floor"))
        try await app.runService()
    }
}
