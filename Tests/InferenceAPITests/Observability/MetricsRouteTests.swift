import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import InferenceAPI

/// Prometheus text exposition, parsed back: `name{labels} value` lines and `# TYPE` comments.
struct PrometheusText {
    struct Sample: Equatable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    let samples: [Sample]
    let types: [String: String]

    init(_ text: String) throws {
        var samples: [Sample] = []
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.isEmpty {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4 else { throw TestFailure("bad TYPE line: \(line)") }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) ?? (line.hasSuffix("+Inf") ? .infinity : nil)
            else { throw TestFailure("bad sample line: \(line)") }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                guard series.hasSuffix("}") else { throw TestFailure("unclosed labels: \(line)") }
                let body = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                var rest = body[...]
                while !rest.isEmpty {
                    guard let eq = rest.firstIndex(of: "="), rest[rest.index(after: eq)] == "\"" else { throw TestFailure("bad label in \(line)") }
                    let key = String(rest[..<eq])
                    var i = rest.index(eq, offsetBy: 2)
                    var value = ""
                    while rest[i] != "\"" {
                        if rest[i] == "\\" { i = rest.index(after: i) }
                        value.append(rest[i])
                        i = rest.index(after: i)
                    }
                    labels[key] = value
                    rest = rest[rest.index(after: i)...]
                    if rest.hasPrefix(",") { rest = rest.dropFirst() }
                }
            } else {
                name = series
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else { throw TestFailure("bad metric name: \(line)") }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        self.samples = samples
        self.types = types
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }?.value
    }

    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }.map(\.value)
            .reduce(0, +)
    }
}

@Suite("Prometheus metrics")
struct MetricsRouteTests {
    @Test func testMetricsAfterTrafficHoldEverySeries() async throws {
        let app = try await buildApplication(configuration: try SecuredApp.configuration(["DRIFT_WINDOW": "50"]))
        let vector = try TestApp.servedVector()
        try await app.test(.router) { client in
            let predict = SecuredApp.Key.predict.headers
            let predicted = try await client.execute(uri: "/predict", method: .post, headers: predict, body: TestApp.body(Array(vector.readings.prefix(40))))
            #expect(predicted.status == .ok)
            _ = try await client.execute(uri: "/predict", method: .post, headers: predict, body: ByteBuffer(string: "{\"readings\": []}"))
            _ = try await client.execute(uri: "/predict", method: .post, headers: [:], body: nil)
            let samples = try AnomalyRouteTests.series(count: 150)
            let writer = SecuredApp.Key.anomalyWriter.headers
            let trainBody = try AnomalyRouteTests.json(["asset_id": "m-1", "metrics": ["cpu_pct", "latency_ms"], "samples": samples, "n_estimators": 10])
            let r18 = try await client.execute(uri: "/anomaly/train", method: .post, headers: writer, body: trainBody)
            #expect(r18.status == .created)
            let detectBody = try AnomalyRouteTests.json(["asset_id": "m-1", "samples": try AnomalyRouteTests.series(count: 20, offset: 400)])
            let r19 = try await client.execute(uri: "/anomaly/detect", method: .post, headers: writer, body: detectBody)
            #expect(r19.status == .ok)
            let fallback = try AnomalyRouteTests.json(["asset_id": "m-2", "samples": try AnomalyRouteTests.series(count: 5)])
            let r20 = try await client.execute(uri: "/anomaly/detect", method: .post, headers: writer, body: fallback)
            #expect(r20.status == .ok)
            // What the answers named, method by method: the series must count exactly that.
            var named: [String: Double] = [:]
            for answer in [r19, r20] {
                let results = (try JSONSerialization.jsonObject(with: Data(buffer: answer.body)) as? [String: Any])?["results"] as? [[String: Any]] ?? []
                for result in results { named[result["method"] as? String ?? "?", default: 0] += 1 }
            }
            let fleetAdmin = SecuredApp.Key.fleetAdmin.headers
            let bad = ByteBuffer(string: "{\"run_id\": \"0000000000000000000000000000dead\"}")
            let r21 = try await client.execute(uri: "/models/activate", method: .post, headers: fleetAdmin, body: bad)
            #expect(r21.status == .notFound)
            let again = ByteBuffer(string: "{\"run_id\": \"\(vector.run_id)\"}")
            let r22 = try await client.execute(uri: "/models/activate", method: .post, headers: fleetAdmin, body: again)
            #expect(r22.status == .ok)

            let scraped = try await client.execute(uri: "/metrics", method: .get, headers: SecuredApp.Key.metrics.headers)
            #expect(scraped.status == .ok)
            #expect(scraped.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = try PrometheusText(String(buffer: scraped.body))

            #expect(text.value("http_requests_total", ["method": "POST", "route": "/predict", "status": "200"]) == 1)
            #expect(text.value("http_requests_total", ["method": "POST", "route": "/predict", "status": "400"]) == 1)
            #expect(text.value("http_requests_total", ["method": "POST", "route": "/predict", "status": "401"]) == 1)
            #expect(text.types["http_request_duration_seconds"] == "histogram")
            #expect(text.value("http_request_duration_seconds_count", ["route": "/predict", "status": "200"]) == 1)
            #expect(text.value("http_request_duration_seconds_bucket", ["route": "/predict", "status": "200", "le": "+Inf"]) == 1)

            let hazardous = Double(vector.predictions.prefix(40).filter { $0 == 1 }.count)
            #expect(text.sum("hazard_predictions_total", ["label": "Hazardous"]) == hazardous)
            #expect(text.sum("hazard_predictions_total", ["label": "Normal"]) == 40 - hazardous)
            #expect(text.value("hazard_probability_count") == 40)
            #expect(text.value("hazard_probability_bucket", ["le": "0.5"]) == 40 - hazardous)
            #expect(text.value("readings_per_request_count") == 1)
            #expect(text.value("readings_per_request_sum") == 40)

            #expect(text.value("model_info", ["run_id": vector.run_id]) == 1)
            #expect(text.samples.filter { $0.name == "model_info" }.count == 1, "one active model series")
            #expect((text.value("model_loaded_timestamp_seconds") ?? 0) > 1_700_000_000)
            #expect(text.value("model_swaps_total", ["result": "success"]) == 2, "start-up and the re-activation")
            #expect(text.value("model_swaps_total", ["result": "failure"]) == 1)

            for (method, count) in named {
                #expect(text.sum("anomaly_detections_total", ["method": method]) == count, "\(method)")
            }
            #expect(named.values.reduce(0, +) == 25)
            #expect(text.sum("anomaly_detections_total") == 25)
            #expect(text.value("anomaly_training_duration_seconds_count") == 1)
            #expect(text.samples.filter { $0.name == "feature_drift" }.count == vector.feature_names.count)
            #expect(text.value("feature_drift", ["feature": vector.feature_names[0]]) != nil)
        }
    }
}
