import Foundation
import Hummingbird
import Storage

/// `POST /feedback`: readings with their observed outcome, stored for the caller's tenant.
struct FeedbackController {
    let feedback: FeedbackService
    let maxBodyBytes: Int
    let idempotency: Idempotency

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.requires(.predict))
            .post("feedback", use: record)
    }

    struct FeedbackAnswer: Encodable {
        let stored: Int
        let run_id: String
        let tenant: String
    }

    @Sendable func record(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.jsonBody(upTo: maxBodyBytes)
        try Request.refuseDuplicateKeys(body)
        let tenant = context.tenant
        let key = try idempotency.key(of: request, body: body, tenant: tenant)
        let answer = { @Sendable (stored: FeedbackService.Stored) in
            // Two strings and a count: encoding cannot fail.
            ByteBuffer(data: (try? JSONEncoder.api.encode(FeedbackAnswer(stored: stored.count, run_id: stored.runId, tenant: tenant))) ?? Data("{}".utf8))
        }
        var receipt: (@Sendable (FeedbackService.Stored) -> IdempotencyReceipt)?
        if let key { receipt = { stored in key.receiptNow(status: .created, body: answer(stored)) } }
        return try await idempotency.once(key) {
            let stored = try await feedback.record(body: body, tenant: tenant, receipt: receipt)
            return .json(.created, answer(stored))
        }
    }
}
