import Hummingbird

/// `POST /feedback`: readings with their observed outcome, stored for the caller's tenant.
struct FeedbackController {
    let feedback: FeedbackService
    let maxBodyBytes: Int

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.requires(.predict))
            .post("feedback", use: record)
    }

    struct FeedbackAnswer: ResponseEncodable {
        let stored: Int
        let run_id: String
        let tenant: String
    }

    @Sendable func record(request: Request, context: AppRequestContext) async throws -> EditedResponse<FeedbackAnswer> {
        let body = try await request.jsonBody(upTo: maxBodyBytes)
        try Request.refuseDuplicateKeys(body)
        let stored = try await feedback.record(body: body, tenant: context.tenant)
        return EditedResponse(status: .created, response: FeedbackAnswer(stored: stored.count, run_id: stored.runId, tenant: context.tenant))
    }
}
