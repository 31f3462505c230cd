import Foundation
import HTTPTypes
import Hummingbird

/// The operator's page (`GET /`), the interactive API docs (`GET /docs`) and their static files
/// (`GET /static/{file}`), served from the target's resources (`Resources/web`): no CDN, works
/// offline. The pages hold no data; their scripts fetch it from the JSON API with the visitor's
/// token or key, so the pages are open and the data keeps the API's scopes.
struct WebController {
    let files: WebFiles

    /// Scripts only from this origin, none inline, no framing; Swagger UI sets inline styles
    /// and draws icons from data: URLs.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.open)
            .get { request, _ in try answer("index.html", request) }
            .get("docs") { request, _ in try answer("docs.html", request) }
            .get("static/{file}") { request, context in try answer(context.parameters.get("file") ?? "", request) }
    }

    private func answer(_ name: String, _ request: Request) throws -> Response {
        guard let file = files.file(named: name) else { throw APIError.notFound("no file \(name.prefix(64))") }
        var headers: HTTPFields = [.contentType: file.contentType, .contentSecurityPolicy: Self.contentSecurityPolicy]
        // Vendored files and scripts change only with the binary: a day in a browser's cache.
        headers[.cacheControl] = "public, max-age=86400"
        var body = file.raw
        if let gzip = file.gzip, request.headers[.acceptEncoding]?.contains("gzip") == true {
            headers[.contentEncoding] = "gzip"
            body = gzip
        }
        headers[.vary] = "Accept-Encoding"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Every file under `Resources/web`, read once at start-up, by file name (names are unique).
struct WebFiles: Sendable {
    struct File: Sendable {
        let raw: Data
        /// The precompressed `.gz` beside it, when there is one.
        let gzip: Data?
        let contentType: String
    }

    private let files: [String: File]

    init() {
        var files: [String: File] = [:]
        let root = Bundle.module.resourceURL?.appendingPathComponent("web")
        let walker = root.flatMap { FileManager.default.enumerator(at: $0, includingPropertiesForKeys: nil) }
        while let url = walker?.nextObject() as? URL {
            let name = url.lastPathComponent
            guard let type = Self.contentTypes[url.pathExtension], let raw = try? Data(contentsOf: url) else { continue }
            files[name] = File(raw: raw, gzip: try? Data(contentsOf: url.appendingPathExtension("gz")), contentType: type)
        }
        self.files = files
    }

    func file(named name: String) -> File? { files[name] }
    var names: [String] { files.keys.sorted() }

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "png": "image/png", "svg": "image/svg+xml",
    ]
}

extension HTTPField.Name {
    static let contentSecurityPolicy = Self("Content-Security-Policy")!
}
