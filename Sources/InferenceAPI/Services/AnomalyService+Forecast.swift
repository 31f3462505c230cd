import AnomalyDetection
import Foundation
import Storage

extension AnomalyService {
    /// Stored samples a forecast reads at most, newest first: 35 days of five-minute samples.
    static let forecastHistorySamples = 10_080

    /// The forecast of `request.metric`, from the samples given or the asset's stored ones.
    /// - Throws: `ServiceError` (422) for a metric the history lacks or too little history.
    func forecast(tenantId: String, request: AnomalyRequests.Forecast) async throws -> Forecaster.Forecast {
        let samples: [MetricSample]
        if let given = request.samples {
            samples = given
        } else {
            samples = try await store.recentSamples(tenantId: tenantId, assetId: request.assetId, before: nil, limit: Self.forecastHistorySamples)
        }
        var times: [Date] = [], values: [Double] = []
        times.reserveCapacity(samples.count)
        values.reserveCapacity(samples.count)
        for sample in samples {
            guard let value = sample.metrics[request.metric] else { continue }
            times.append(sample.timestamp)
            values.append(value)
        }
        if values.isEmpty {
            guard !samples.isEmpty else {
                throw ServiceError(
                    .unprocessable, code: "too_little_history",
                    "asset \(request.assetId) has no stored samples: a forecast needs at least \(Int(Forecaster.minimumDays)) days of history")
            }
            let known = Set(samples.flatMap(\.metrics.keys)).sorted()
            throw ServiceError(
                .unprocessable, code: "unknown_metric", "no sample has the metric \(request.metric); the history's metrics are \(known.joined(separator: ", "))",
                details: [.init(field: "metric", problem: "is not in the history", suggestion: known.min { Self.distance($0, request.metric) < Self.distance($1, request.metric) })])
        }
        let (horizon, interval, threshold) = (request.horizon, request.interval, request.threshold)
        do {
            return try await Offload.run(.blocking) { [times, values] in
                try Forecaster.forecast(times: times, values: values, horizon: horizon, interval: interval, threshold: threshold)
            }
        } catch let failure as Forecaster.Failure {
            switch failure {
            case .tooLittleHistory: throw ServiceError(.unprocessable, code: "too_little_history", failure.description)
            case .spacing: throw ServiceError(.unprocessable, code: "irregular_spacing", failure.description)
            }
        }
    }

    private static func distance(_ a: String, _ b: String) -> Int { ReadingsDecoder.editDistance(a, b) }
}
