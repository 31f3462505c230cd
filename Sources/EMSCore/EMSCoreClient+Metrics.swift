import ComputeSupport
import Foundation
import NIOCore
import Storage

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
    /// deduplicated by timestamp (the last page's value wins), oldest first. Bounded three ways:
    /// each page by `endpoint.maxPageBytes` and `endpoint.timeout`, the distinct samples by
    /// `endpoint.trainMaxSamples`, and every page together by `endpoint.trainTimeout` (pagination
    /// that never ends meets it, or `maxPages`: an error, not a silent cut).
    /// - Throws: `EMSCoreError` (a status, a timeout, an unreachable host, a malformed or too large
    ///   page, too many samples).
    public func metrics(assetId: String, from: Date, to: Date, maxPages: Int = 10_000) async throws -> [MetricSample] {
        let training = endpoint.trainTimeout
        let maxSamples = endpoint.trainMaxSamples
        return try await withDeadline(
            .now + .milliseconds(Int64(training * 1000)),
            { "the metrics of \(assetId) were not all read within \(String(format: "%g", training)) s (EMS_TRAIN_TIMEOUT_SECONDS)" }
        ) {
            var byTime: [Date: [String: Double]] = [:]
            var page = 1
            while true {
                guard page <= maxPages else { throw EMSCoreError.tooLarge("more than \(maxPages) metrics pages") }
                let decoded = try await self.metricsPage(assetId: assetId, from: from, to: to, page: page)
                for row in decoded.data {
                    guard let time = ISO8601.parse(row.timestamp) else { throw EMSCoreError.malformed("page \(page): timestamp '\(row.timestamp.prefix(40))'") }
                    guard time >= from && time < to else { continue }
                    // The rule inline samples are held to: a name that breaks it refuses the import.
                    if let name = row.metrics.keys.first(where: { !MetricName.isValid($0) }) {
                        throw EMSCoreError.malformed("page \(page): metric name '\(MetricName.excerpt(name))' is not \(MetricName.rule)")
                    }
                    byTime[time] = row.metrics.compactMapValues { $0 }.filter { $0.value.isFinite }
                }
                guard byTime.count <= maxSamples else { throw EMSCoreError.tooManySamples(maxSamples) }
                let total = decoded.total_pages ?? page
                if decoded.data.isEmpty || page >= total { break }
                page += 1
            }
            return byTime.sorted { $0.key < $1.key }.map { MetricSample(timestamp: $0.key, metrics: $0.value) }
        }
    }

    /// Page `page` of `GET /api/metrics`, at most `endpoint.maxPageBytes`.
    func metricsPage(assetId: String, from: Date, to: Date, page: Int) async throws -> MetricsPage {
        var components = URLComponents()
        components.queryItems = [
            URLQueryItem(name: "assetId", value: assetId), URLQueryItem(name: "from", value: ISO8601.format(from)),
            URLQueryItem(name: "to", value: ISO8601.format(to)), URLQueryItem(name: "page", value: String(page)),
        ]
        // `+` is legal in a query but read as a space by many servers: ISO 8601 offsets need it encoded.
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let answer: Answer, body: ByteBuffer
        do {
            (answer, body) = try await send(request(.GET, "/api/metrics?" + query), limit: endpoint.maxPageBytes)
        } catch EMSCoreError.tooLarge {
            throw EMSCoreError.tooLarge("metrics page \(page) is longer than \(endpoint.maxPageBytes) bytes (EMS_CORE_MAX_PAGE_BYTES)")
        }
        guard (200..<300).contains(answer.status) else {
            throw EMSCoreError.status(answer.status, RetryPolicy.redirectNote(status: answer.status, location: answer.location) ?? answer.body)
        }
        do {
            return try JSONDecoder().decode(MetricsPage.self, from: Data(buffer: body))
        } catch {
            throw EMSCoreError.malformed("page \(page) is not a metrics page")
        }
    }
}
