import Hummingbird

/// `GET /metrics` (Prometheus text) and `GET /drift` (per-feature drift of incoming readings),
/// scope `metrics:read`; `METRICS_AUTH=off` opens `/metrics`.
struct MonitoringController {
    let telemetry: Telemetry
    let drift: DriftMonitor
    let models: ModelService
    let metricsNeedCredentials: Bool

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.group().add(middleware: metricsNeedCredentials ? access.requires(.metricsRead) : access.open).get("metrics") { _, _ -> Response in
            // Drift gauges are computed at scrape time, not on every request.
            telemetry.drift(drift.report(model: models.active).features)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: telemetry.render())))
        }
        group.group().add(middleware: access.requires(.metricsRead)).get("metrics/summary") { _, _ -> SummaryAnswer in
            SummaryAnswer(summary: telemetry.history.summary())
        }
        group.group().add(middleware: access.requires(.metricsRead)).get("drift") { _, _ -> DriftAnswer in
            DriftAnswer(report: drift.report(model: models.active))
        }
    }

    struct DriftAnswer: ResponseEncodable {
        let report: DriftMonitor.Report

        func encode(to encoder: any Encoder) throws { try report.encode(to: encoder) }
    }

    /// The last hour of traffic, a minute a row, for the operator's page.
    struct SummaryAnswer: ResponseEncodable {
        let summary: TrafficHistory.Summary

        func encode(to encoder: any Encoder) throws { try summary.encode(to: encoder) }
    }
}
