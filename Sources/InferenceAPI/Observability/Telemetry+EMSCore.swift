import AnomalyDetection
import EMSCore
import Metrics
import Storage

/// The EMS Core deliverer's series: `ems_breaker_state` (0 closed, 1 half-open, 2 open),
/// `ems_outbox_messages{state}`, `ems_deliveries_total{target,result}` and
/// `ems_delivery_latency_seconds` (from the commit of the change to EMS Core's answer).
extension Telemetry: DeliveryObserver {
    public func delivered(target: OutboxMessage.Target, duplicate: Bool, latencySeconds: Double) {
        counter("ems_deliveries_total", [("target", target.rawValue), ("result", duplicate ? "duplicate" : "delivered")]).increment()
        Metrics.Timer(label: "ems_delivery_latency_seconds", factory: factory).recordNanoseconds(Int64(max(0, latencySeconds) * 1e9))
    }

    public func failed(target: OutboxMessage.Target) {
        counter("ems_deliveries_total", [("target", target.rawValue), ("result", "failed")]).increment()
    }

    public func parked(target: OutboxMessage.Target) {
        counter("ems_deliveries_total", [("target", target.rawValue), ("result", "parked")]).increment()
    }

    public func breakerChanged(_ state: CircuitBreaker.State) {
        Metrics.Meter(label: "ems_breaker_state", factory: factory).set(state.gaugeValue)
        counter("ems_breaker_transitions_total", [("to", state.rawValue)]).increment()
    }

    public func outboxCounted(_ counts: OutboxCounts) {
        for (state, value) in [("pending", counts.pending), ("delivered", counts.delivered), ("parked", counts.parked)] {
            Metrics.Meter(label: "ems_outbox_messages", dimensions: [("state", state)], factory: factory).set(value)
        }
    }
}
