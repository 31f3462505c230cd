import Dispatch
import Hummingbird

/// Counts every request and times it by method, matched route pattern and final status, errors
/// included (it sits outside the error envelope, so a 401, 404 or 429 is counted with its status).
/// The pattern is the router's own match, read after the handler as Hummingbird's
/// `MetricsMiddleware` does.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let telemetry: Telemetry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let method = request.method.rawValue
        do {
            let response = try await next(request, context)
            telemetry.request(method: method, route: context.routePattern, status: response.status.code, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            return response
        } catch let error as any HTTPResponseError {
            telemetry.request(method: method, route: context.routePattern, status: error.status.code, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            throw error
        }
    }
}
