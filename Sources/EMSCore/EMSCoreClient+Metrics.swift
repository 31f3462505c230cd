import AnomalyDetection
import Foundation

extension EMSCoreClient {
    /// One page of `GET /api/metrics`: `{"data": [{"timestamp", "metrics": {name: number}}],
    /// "page": n, "total_pages": N}`.
    struct MetricsPage: Decodable {
        struct Row: Decodable {
            let timestamp: String
            let metrics: [String: Double?]
        }
        let data: [Row]
        let page: Int?
        let total_pages: Int?
    }

    /// Every sample of `assetId` with `from <= timestamp < to`, page by page (`page` from 1),
    /// deduplicated by timestamp (the last page's value wins), oldest first.
    /// - Throws: `EMSCoreError` (a status, a timeout, an unreachable host, a malformed page), or
    ///   `.malformed` past `maxSamples`.
    public func metrics(assetId: String, from: Date, to: Date, maxSamples: Int = 1_000_000, maxPages: Int = 10_000) async throws -> [MetricSample] {
        var byTime: [Date: [String: Double]] = [:]
        var page = 1
        while page <= maxPages {
            var components = URLComponents()
            components.queryItems = [
                URLQueryItem(name: "assetId", value: assetId), URLQueryItem(name: "from", value: ISO8601.format(from)),
                URLQueryItem(name: "to", value: ISO8601.format(to)), URLQueryItem(name: "page", value: String(page)),
            ]
            // `+` is legal in a query but read as a space by many servers: ISO 8601 offsets need it encoded.
            let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
            let (answer, body) = try await send(request(.GET, "/api/metrics?" + query), limit: 64 * 1024 * 1024)
            guard (200..<300).contains(answer.status) else { throw EMSCoreError.status(answer.status, answer.body) }
            let decoded: MetricsPage
            do {
                decoded = try JSONDecoder().decode(MetricsPage.self, from: Data(buffer: body))
            } catch {
                throw EMSCoreError.malformed("page \(page) is not a metrics page")
            }
            for row in decoded.data {
                guard let time = ISO8601.parse(row.timestamp) else { throw EMSCoreError.malformed("page \(page): timestamp '\(row.timestamp.prefix(40))'") }
                guard time >= from && time < to else { continue }
                byTime[time] = row.metrics.compactMapValues { $0 }.filter { $0.value.isFinite }
            }
            guard byTime.count <= maxSamples else { throw EMSCoreError.malformed("more than \(maxSamples) samples") }
            let total = decoded.total_pages ?? page
            if decoded.data.isEmpty || page >= total { break }
            page += 1
        }
        return byTime.sorted { $0.key < $1.key }.map { MetricSample(timestamp: $0.key, metrics: $0.value) }
    }
}
