import Metrics
import Synchronization

/// The open-connection count and the counters of connections the guard closed.
final class ConnectionCounters: Sendable {
    enum Reason: String, CaseIterable {
        case headerTimeout = "header_timeout"
        case idleTimeout = "idle_timeout"
        case lingerTimeout = "linger_timeout"
        case overCapacity = "over_capacity"
    }

    private let open = Atomic<Int>(0)
    private let gauge: Metrics.Gauge
    private let closed: [String: Metrics.Counter]

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        gauge = Metrics.Gauge(label: "http_connections_open", factory: factory)
        closed = Dictionary(
            uniqueKeysWithValues: Reason.allCases.map {
                ($0.rawValue, Metrics.Counter(label: "http_connections_closed_total", dimensions: [("reason", $0.rawValue)], factory: factory))
            })
    }

    /// Counts a new connection in; false (and nothing counted) when `limit` are already open.
    func admit(limit: Int) -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged {
                gauge.record(current + 1)
                return true
            }
            current = original
        }
        closed[Reason.overCapacity.rawValue]?.increment()
        return false
    }

    func release() {
        gauge.record(open.subtract(1, ordering: .relaxed).newValue)
    }

    func closed(_ reason: Reason) {
        closed[reason.rawValue]?.increment()
    }

    var openConnections: Int { open.load(ordering: .relaxed) }
}
