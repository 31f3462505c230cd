import Dispatch
import HTTPTypes
import Hummingbird

/// Everything the service does for every route, as one middleware: the request id
/// (`RequestID`), the Host check of development mode (`LoopbackHost`), CORS (`CORSPolicy`), the
/// caller's credentials read (`Authentication`); then on the way out, error or not, the JSON
/// envelope (`ErrorEnvelope`), the CORS headers, the common headers (`ResponseHeaders`), the
/// request id echoed, and the request counted and timed with its final status.
///
/// One middleware calling plain stages, not one middleware per stage, so the order of the
/// answer's steps reads here, and every error answer gets the same headers (CORS included),
/// whichever stage or handler failed. (It is not faster: the seven middleware frames it replaced
/// measured the same server time per request; BENCHMARKS.md, "Issue 29 item 1".)
struct EdgeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let envelope: ErrorEnvelope
    let telemetry: Telemetry
    /// Development mode: only `Host` values naming loopback are answered.
    let loopbackOnly: Bool
    /// nil without `CORS_ORIGINS`.
    let cors: CORSPolicy?
    let authentication: Authentication

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        var context = context
        RequestID.adopt(from: request, into: &context)
        var corsHeaders: HTTPFields?
        var response: Response
        do {
            if loopbackOnly { try LoopbackHost.check(request) }
            let decision = cors?.decide(request) ?? .none
            if case .headers(let fields) = decision { corsHeaders = fields }
            if case .preflight(let answer) = decision {
                response = answer
            } else {
                await authentication.identify(request, context: &context)
                response = try await next(request, context)
            }
        } catch {
            var answer = envelope.answer(for: error, request: request, logger: context.logger)
            finish(&answer.headers, cors: corsHeaders, context: context)
            count(request, context: context, status: answer.status.code, started: started)
            throw answer
        }
        finish(&response.headers, cors: corsHeaders, context: context)
        count(request, context: context, status: response.status.code, started: started)
        return response
    }

    private func finish(_ headers: inout HTTPFields, cors: HTTPFields?, context: Context) {
        if let cors { headers.append(contentsOf: cors) }
        ResponseHeaders.add(to: &headers)
        headers.put(.requestID, context.id)
    }

    private func count(_ request: Request, context: Context, status: Int, started: UInt64) {
        telemetry.request(
            method: request.method.rawValue, route: context.routePattern, status: status, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
    }
}
