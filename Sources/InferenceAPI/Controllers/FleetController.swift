import Foundation
import Hummingbird
import Storage

/// `GET /fleet` (scope `models:admin`): the replicas sharing the database, from their heartbeats,
/// with the model each serves next to the fleet's. With SQLite the state is this process's own,
/// and the answer says so.
struct FleetController {
    let fleet: FleetCoordinator
    /// A replica whose last heartbeat is older than this is listed as not ready.
    let staleAfterSeconds: Int

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.requires(.modelsAdmin))
            .get(use: list)
    }

    struct Replica: Codable, Sendable {
        let id: String
        let host: String
        /// The fleet version it serves.
        let version: Int64
        let run_id: String?
        let started_at: String
        let last_seen: String?
        let ready: Bool
        let diverged_reason: String?
        let this_replica: Bool
    }

    struct Answer: ResponseEncodable {
        let scope: String
        let note: String?
        let fleet: FleetView
        let replicas: [Replica]
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> Answer {
        let staleBefore = Date().addingTimeInterval(-Double(staleAfterSeconds))
        let beats = try await fleet.replicas(seenWithin: 3600)
        let replicas = beats.map { beat in
            Replica(
                id: beat.replicaId, host: beat.host, version: beat.fleetVersion, run_id: beat.runId, started_at: ModelInfo.timestamp(beat.startedAt),
                last_seen: beat.lastSeen.map(ModelInfo.timestamp), ready: beat.ready && (beat.lastSeen ?? .distantPast) > staleBefore,
                diverged_reason: beat.divergedReason, this_replica: beat.replicaId == fleet.identity.id)
        }
        let shared = fleet.isShared
        return Answer(
            scope: shared ? "postgresql" : "local",
            note: shared ? nil : "the fleet state is local to this process (SQLite): scale-out needs DATABASE_URL (PostgreSQL)",
            fleet: FleetView(fleet), replicas: replicas)
    }
}
