import AnomalyDetection
import Foundation
import Storage

extension AnomalyRequests {
    /// `POST /anomaly/forecast` and `GET /anomaly/forecast/{asset_id}`.
    struct Forecast: Sendable {
        let assetId: String
        let metric: String
        /// Steps after the last sample, at the history's own spacing.
        let horizon: Int
        let interval: Double
        let threshold: Double?
        /// The history to forecast from; nil: the asset's stored samples.
        let samples: [MetricSample]?

        static let defaultHorizon = 288
        static let defaultInterval = 0.9
        static let intervals = 0.5...0.99
    }

    static func forecast(_ data: Data, maxSamples: Int) throws -> Forecast {
        let body = try parse(data)
        var details: [APIError.Detail] = []
        let allowed = ["asset_id", "metric", "horizon", "interval", "samples", "threshold"]
        for key in body.keys where !allowed.contains(key) {
            details.append(.init(field: key, problem: "unknown key", suggestion: allowed.min { editDistance($0, key) < editDistance($1, key) }))
        }
        let asset = assetId(body["asset_id"], &details)
        var metric: String?
        if case .string(let name)? = body["metric"], isMetricName(name) { metric = name } else {
            details.append(.init(field: "metric", problem: "is required: a metric name (\(MetricName.rule))"))
        }
        let horizon = integer(body["horizon"], field: "horizon", range: 1...Forecaster.maximumHorizon, &details) ?? Forecast.defaultHorizon
        var interval = Forecast.defaultInterval
        switch body["interval"] {
        case nil, .null?: break
        case .number(let v)? where Forecast.intervals.contains(v): interval = v
        default: details.append(.init(field: "interval", problem: "must be a number in 0.5...0.99"))
        }
        var threshold: Double?
        switch body["threshold"] {
        case nil, .null?: break
        case .number(let v)? where v.isFinite: threshold = v
        default: details.append(.init(field: "threshold", problem: "must be a number"))
        }
        var samples: [MetricSample]?
        if body["samples"] != nil {
            samples = try self.samples(body["samples"], maxSamples: maxSamples, required: true, &details).0
        }
        guard details.isEmpty, let asset, let metric else { throw failure(details) }
        return Forecast(assetId: asset, metric: metric, horizon: horizon, interval: interval, threshold: threshold, samples: samples)
    }
}

/// The forecast's answer.
struct ForecastAnswer: Encodable, Sendable {
    struct Point: Encodable, Sendable {
        let timestamp: String
        let value: Double
        let lower: Double
        let upper: Double
    }

    struct Crossing: Encodable, Sendable {
        let threshold: Double
        /// The first step whose forecast passes the threshold; null when none within the horizon.
        let timestamp: String?
        let probability: Double
        let direction: String
    }

    let asset_id: String
    let metric: String
    let step_seconds: Double
    let method: String
    let components: [String]
    let fitted_samples: Int
    let horizon: Int
    let interval: Double
    let growth_per_week: Double
    let forecast: [Point]
    let crossing: Crossing?

    init(_ request: AnomalyRequests.Forecast, _ forecast: Forecaster.Forecast) {
        asset_id = request.assetId
        metric = request.metric
        step_seconds = forecast.stepSeconds
        method = Forecaster.method
        components = forecast.components
        fitted_samples = forecast.fittedSamples
        horizon = forecast.points.count
        interval = request.interval
        growth_per_week = forecast.growthPerWeek
        self.forecast = forecast.points.map { Point(timestamp: ModelInfo.timestamp($0.timestamp), value: $0.value, lower: $0.lower, upper: $0.upper) }
        crossing = forecast.crossing.map {
            Crossing(threshold: $0.threshold, timestamp: $0.timestamp.map(ModelInfo.timestamp), probability: $0.probability, direction: $0.direction)
        }
    }
}
