import Foundation

/// A reading with its observed outcome (`hazard_feedback`): what `/models/active/performance`
/// scores the served model against.
public struct FeedbackRecord: Sendable, Equatable {
    public var id: Int64?
    public var tenantId: String
    /// The run that served when the feedback arrived.
    public var runId: String
    /// Raw feature values by name, so any later model can be scored on them.
    public var features: [String: Double]
    /// 1 = the module was hazardous, 0 = normal.
    public var outcome: Int
    /// What `runId` predicted for it.
    public var probability: Double
    public var moduleId: String?
    public var createdAt: Date?

    public init(
        id: Int64? = nil, tenantId: String, runId: String, features: [String: Double], outcome: Int, probability: Double,
        moduleId: String? = nil, createdAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.runId = runId
        self.features = features
        self.outcome = outcome
        self.probability = probability
        self.moduleId = moduleId
        self.createdAt = createdAt
    }
}
