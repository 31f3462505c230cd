import AnomalyDetection
import Artifacts
import Dispatch
import Metrics
import Prometheus
import Storage
import Synchronization

/// The service's Prometheus series, recorded through swift-metrics into a registry of this
/// application's own (not the process-wide `MetricsSystem`, so several applications, as in the
/// tests, never share counters). `GET /metrics` renders `registry`.
///
/// Label values come only from fixed sets (route patterns, methods, statuses, labels, methods of
/// detection, feature names of the served model), so the series count stays bounded whatever
/// clients send.
public final class Telemetry: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// The last hour, for the operator's page.
    let history = TrafficHistory()

    private struct RequestKey: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    private let requests = Mutex<[RequestKey: (count: any CounterHandler, latency: any TimerHandler)]>([:])
    private let labelled = Mutex<[String: Metrics.Counter]>([:])
    private let modelInfo = Mutex<Metrics.Meter?>(nil)
    private let driftMeters = Mutex<[String: Metrics.Meter]>([:])

    /// The series recorded on every request are the factory's handlers, called directly:
    /// swift-metrics' `Counter.increment(by:)` and `Recorder.record(_:)` are generic over the
    /// integer or float type and, unspecialised across modules, cost about 1 us a request.
    private let hazardProbability: any RecorderHandler
    private let readingsPerRequest: any RecorderHandler
    private let trainingDuration: Metrics.Timer
    private let modelLoadedAt: Metrics.Meter
    /// Counted on every prediction request: made once, not looked up.
    private let hazardous: any CounterHandler
    private let normal: any CounterHandler
    /// Open connections and the ones the connection guard closed.
    let connections: ConnectionCounters
    /// Jobs Swift's runtime handed to the event loops (`EventLoopExecutor`), and how many of them
    /// the counter already holds.
    private let eventLoopJobs: Metrics.Counter
    private let eventLoopJobsRendered = Mutex<Int>(0)
    private let assetCacheHits: Metrics.Counter
    private let assetCacheMisses: Metrics.Counter
    private let assetCacheBytes: Metrics.Meter
    private let assetCacheEntries: Metrics.Meter
    /// The model step by role (`model_step_duration_seconds`), recorded while an experiment runs.
    let modelSteps: (champion: Metrics.Timer, challenger: Metrics.Timer)
    let challengerCounters: (compared: Metrics.Counter, disagreements: Metrics.Counter)

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "http_request_duration_seconds": [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            ],
            "grpc_server_handling_seconds": [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            ],
            "ems_delivery_latency_seconds": [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
                .seconds(900), .seconds(3600),
            ],
            "model_step_duration_seconds": [
                .microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
                .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(100), .seconds(1),
            ],
            "anomaly_training_duration_seconds": [
                .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500),
                .seconds(1), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
            ],
        ]
        factory.valueHistogramBuckets = [
            "hazard_probability": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
            "readings_per_request": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100_000],
        ]
        self.factory = factory
        hazardProbability = factory.makeRecorder(label: "hazard_probability", dimensions: [], aggregate: true)
        readingsPerRequest = factory.makeRecorder(label: "readings_per_request", dimensions: [], aggregate: true)
        trainingDuration = Metrics.Timer(label: "anomaly_training_duration_seconds", factory: factory)
        modelLoadedAt = Metrics.Meter(label: "model_loaded_timestamp_seconds", factory: factory)
        hazardous = factory.makeCounter(label: "hazard_predictions_total", dimensions: [("label", "Hazardous")])
        normal = factory.makeCounter(label: "hazard_predictions_total", dimensions: [("label", "Normal")])
        connections = ConnectionCounters(factory: factory)
        eventLoopJobs = Metrics.Counter(label: "event_loop_jobs_total", factory: factory)
        assetCacheHits = Metrics.Counter(label: "anomaly_model_cache_requests_total", dimensions: [("result", "hit")], factory: factory)
        assetCacheMisses = Metrics.Counter(label: "anomaly_model_cache_requests_total", dimensions: [("result", "miss")], factory: factory)
        assetCacheBytes = Metrics.Meter(label: "anomaly_model_cache_bytes", factory: factory)
        assetCacheEntries = Metrics.Meter(label: "anomaly_model_cache_entries", factory: factory)
        modelSteps = (
            Metrics.Timer(label: "model_step_duration_seconds", dimensions: [("role", "champion")], factory: factory),
            Metrics.Timer(label: "model_step_duration_seconds", dimensions: [("role", "challenger")], factory: factory)
        )
        challengerCounters = (
            Metrics.Counter(label: "model_challenger_compared_total", factory: factory),
            Metrics.Counter(label: "model_challenger_label_disagreements_total", factory: factory)
        )
    }

    /// The Prometheus text exposition of every series.
    func render() -> String {
        // The executor's process-wide count, brought up to date when rendered (no work per job here).
        let added = eventLoopJobsRendered.withLock { rendered in
            let now = EventLoopExecutor.jobs.load(ordering: .relaxed)
            defer { rendered = max(rendered, now) }
            return now - rendered
        }
        if added > 0 { eventLoopJobs.increment(by: added) }
        return registry.emitToString()
    }

    // MARK: - HTTP

    func request(method: String, route: String, status: Int, nanoseconds: UInt64) {
        history.request(status: status, nanoseconds: nanoseconds)
        let key = RequestKey(method: method, route: route, status: status)
        let metrics = requests.withLock { cache in
            if let found = cache[key] { return found }
            let dimensions = [("method", method), ("route", route), ("status", String(status))]
            let made = (
                count: factory.makeCounter(label: "http_requests_total", dimensions: dimensions),
                latency: factory.makeTimer(label: "http_request_duration_seconds", dimensions: dimensions)
            )
            cache[key] = made
            return made
        }
        metrics.count.increment(by: 1)
        metrics.latency.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func rateLimited(route: String) {
        counter("rate_limited_total", [("route", route)]).increment()
    }

    // MARK: - Hazard model

    func predictions(_ probabilities: [Float], threshold: Double) {
        history.predictions(probabilities, threshold: threshold)
        readingsPerRequest.record(Int64(probabilities.count))
        var flagged = 0
        for p in probabilities {
            hazardProbability.record(Double(p))
            if Double(p) >= threshold { flagged += 1 }
        }
        if flagged > 0 { hazardous.increment(by: Int64(flagged)) }
        if flagged < probabilities.count { normal.increment(by: Int64(probabilities.count - flagged)) }
    }

    /// The served model's identity as a constant-1 series (`model_info`), replacing the previous one.
    func modelActivated(_ model: HazardModel) {
        let info = Metrics.Meter(
            label: "model_info",
            dimensions: [
                ("run_id", model.runId), ("experiment", model.location.run.experimentName), ("loaded_at", ModelInfo.timestamp(model.loadedAt)),
            ], factory: factory)
        info.set(1)
        let previous = modelInfo.withLock { slot in
            defer { slot = info }
            return slot
        }
        if let previous, previous !== info { previous.destroy() }
        modelLoadedAt.set(model.loadedAt.timeIntervalSince1970)
        counter("model_swaps_total", [("result", "success")]).increment()
    }

    /// One look at a followed registry alias: `unchanged`, `swapped`, `refused` or `unreachable`.
    func aliasCheck(_ result: String) {
        counter("model_alias_checks_total", [("result", result)]).increment()
    }

    func modelActivationFailed() {
        counter("model_swaps_total", [("result", "failure")]).increment()
    }

    // MARK: - Anomalies and the store

    func detections(_ detections: [Detection]) {
        var counts: [String: (flagged: Int, normal: Int)] = [:]
        for d in detections {
            var c = counts[d.method.rawValue] ?? (0, 0)
            if d.isAnomaly { c.flagged += 1 } else { c.normal += 1 }
            counts[d.method.rawValue] = c
        }
        for (method, c) in counts {
            if c.flagged > 0 { counter("anomaly_detections_total", [("method", method), ("anomalous", "true")]).increment(by: c.flagged) }
            if c.normal > 0 { counter("anomaly_detections_total", [("method", method), ("anomalous", "false")]).increment(by: c.normal) }
        }
    }

    func training(seconds: Double) {
        trainingDuration.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// `anomaly_model_cache_requests_total{result="hit"|"miss"}`.
    func assetModelCache(hit: Bool) {
        (hit ? assetCacheHits : assetCacheMisses).increment()
    }

    /// `anomaly_model_cache_bytes` and `anomaly_model_cache_entries`.
    func assetModelCache(bytes: Int, entries: Int) {
        assetCacheBytes.set(bytes)
        assetCacheEntries.set(entries)
    }

    /// `hazard_episode_readings_dropped_total`: readings left out of episode bookkeeping because
    /// its queue was full.
    func hazardEpisodeReadingsDropped(_ count: Int) {
        counter("hazard_episode_readings_dropped_total", []).increment(by: count)
    }

    func idempotentReplay() {
        counter("idempotent_replays_total", []).increment()
    }

    func storeError(backend: String) {
        counter("store_errors_total", [("backend", backend)]).increment()
    }

    // MARK: - Drift

    /// Sets `feature_drift{feature}` (|mean shift| in training standard deviations) from a report.
    func drift(_ features: [DriftMonitor.Feature]) {
        driftMeters.withLock { meters in
            let names = Set(features.map(\.name))
            for (name, meter) in meters where !names.contains(name) {
                meter.destroy()
                meters[name] = nil
            }
            for feature in features {
                guard let shift = feature.meanShift else { continue }
                let meter = meters[feature.name] ?? Metrics.Meter(label: "feature_drift", dimensions: [("feature", feature.name)], factory: factory)
                meters[feature.name] = meter
                meter.set(abs(shift))
            }
        }
    }

    func counter(_ name: String, _ dimensions: [(String, String)]) -> Metrics.Counter {
        let key = ([name] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{1F}")
        return labelled.withLock { cache in
            if let found = cache[key] { return found }
            let made = Metrics.Counter(label: name, dimensions: dimensions, factory: factory)
            cache[key] = made
            return made
        }
    }
}
