import Dispatch
import Hummingbird

/// Counts every request and times it by method, route pattern and final status, errors included
/// (it sits outside the error envelope, so a 401, 404 or 429 is counted with its status).
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let routes: RouteTable
    let telemetry: Telemetry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let method = request.method.rawValue
        let pattern = routes.pattern(method: method, path: request.uri.path)
        let route = pattern ?? "unmatched"
        var context = context
        context.route = pattern
        do {
            let response = try await next(request, context)
            telemetry.request(method: method, route: route, status: response.status.code, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            return response
        } catch let error as any HTTPResponseError {
            telemetry.request(method: method, route: route, status: error.status.code, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            throw error
        }
    }
}
