import Hummingbird

/// `GET /metrics` (Prometheus text) and `GET /drift` (per-feature drift of incoming readings).
struct MonitoringController {
    let telemetry: Telemetry
    let drift: DriftMonitor
    let models: ModelService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/metrics") { _, _ -> Response in
            // Drift gauges are computed at scrape time, not on every request.
            telemetry.drift(drift.report(model: models.active).features)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: telemetry.render())))
        }
        router.get("/drift") { _, _ -> DriftAnswer in
            DriftAnswer(report: drift.report(model: models.active))
        }
    }

    struct DriftAnswer: ResponseEncodable {
        let report: DriftMonitor.Report

        func encode(to encoder: any Encoder) throws { try report.encode(to: encoder) }
    }
}
