import Hummingbird

/// `HEAD` for every `GET` route (RFC 9110 9.3.2): the request is routed, authenticated, limited
/// and logged as the `GET` it mirrors, and answered with that answer's status and headers
/// (`Content-Length` included) and no body. A streaming answer's body is never run.
///
/// A responder around the router, not a router middleware: Hummingbird matches the route before
/// its middleware run, so a middleware never sees a `HEAD` that no route declares.
struct HeadResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == AppRequestContext {
    typealias Context = AppRequestContext
    let inner: Inner

    @Sendable func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head else { return try await inner.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        let get = Request(head: head, body: request.body)
        do {
            return try await inner.respond(to: get, context: context).createHeadResponse()
        } catch let error as any HTTPResponseError {
            return try error.response(from: get, context: context).createHeadResponse()
        }
    }
}
