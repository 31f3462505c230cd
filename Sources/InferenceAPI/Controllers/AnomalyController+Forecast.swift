import AnomalyDetection
import Foundation
import Hummingbird
import Storage

/// Forecasts of an asset's metric: `POST /anomaly/forecast` (samples given or stored) and
/// `GET /anomaly/forecast/{asset_id}` (stored), both `anomaly:read`: a forecast writes nothing.
extension AnomalyController {
    @Sendable func forecast(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.jsonBody(upTo: maxBodyBytes)
        let parsed = try AnomalyRequests.forecast(Data(buffer: body), maxSamples: maxSamples)
        return try await answer(parsed, tenant: context.tenant)
    }

    @Sendable func storedForecast(request: Request, context: AppRequestContext) async throws -> Response {
        var details: [APIError.Detail] = []
        let asset = context.parameters.get("asset_id") ?? ""
        if !AnomalyRequests.isAssetId(asset) { details.append(.init(field: "asset_id", problem: "is not a valid asset id")) }
        let query = request.uri.queryParameters
        let metric = query["metric"].map(String.init) ?? ""
        if !AnomalyRequests.isMetricName(metric) { details.append(.init(field: "metric", problem: "is required: a metric name (\(MetricName.rule))")) }
        let horizon = request.queryNumber(
            "horizon", range: 1...Double(Forecaster.maximumHorizon), default: Double(AnomalyRequests.Forecast.defaultHorizon), &details)
        if horizon != horizon.rounded() { details.append(.init(field: "horizon", problem: "must be a whole number of steps")) }
        let interval = request.queryNumber("interval", range: AnomalyRequests.Forecast.intervals, default: AnomalyRequests.Forecast.defaultInterval, &details)
        var threshold: Double?
        if let text = query["threshold"] {
            if let value = Double(String(text)), value.isFinite { threshold = value } else { details.append(.init(field: "threshold", problem: "must be a number")) }
        }
        guard details.isEmpty else { throw AnomalyRequests.failure(details) }
        let parsed = AnomalyRequests.Forecast(
            assetId: asset, metric: metric, horizon: Int(horizon), interval: interval, threshold: threshold, samples: nil)
        return try await answer(parsed, tenant: context.tenant)
    }

    private func answer(_ parsed: AnomalyRequests.Forecast, tenant: String) async throws -> Response {
        let forecast = try await service.forecast(tenantId: tenant, request: parsed)
        return .json(.ok, ByteBuffer(bytes: try JSONEncoder.api.encode(ForecastAnswer(parsed, forecast))))
    }
}
