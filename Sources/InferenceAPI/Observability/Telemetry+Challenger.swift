import Metrics

/// The champion/challenger experiment's series: `model_challenger_compared_total`,
/// `model_challenger_label_disagreements_total`, `model_route_total{role}` (canary readings
/// answered by each run) and `model_step_duration_seconds{role}` (the model step alone, timed only
/// while an experiment runs).
extension Telemetry {
    func modelStep(role: ChallengerRole, nanoseconds: Int64) {
        (role == .champion ? modelSteps.champion : modelSteps.challenger).recordNanoseconds(nanoseconds)
    }

    func routed(role: ChallengerRole, readings: Int) {
        guard readings > 0 else { return }
        counter("model_route_total", [("role", role.rawValue)]).increment(by: readings)
    }

    func challengerCompared(_ readings: Int, disagreements: Int) {
        challengerCounters.compared.increment(by: readings)
        if disagreements > 0 { challengerCounters.disagreements.increment(by: disagreements) }
    }
}
