import Foundation
import Hummingbird

/// `POST /auth/token`, mounted on `/auth`: `{"username", "password"}` in, an HS256 bearer token out.
struct AuthController {
    let authenticator: Authenticator

    func addRoutes(to group: RouterGroup<AppRequestContext>, access: AccessRules) {
        group.add(middleware: access.open)
            .post("token", use: token)
    }

    struct Login: Decodable {
        let username: String
        let password: String
    }

    struct TokenAnswer: ResponseEncodable {
        let access_token: String
        let token_type: String
        let expires_in: Int
        let scope: String
    }

    @Sendable func token(request: Request, context: AppRequestContext) async throws -> TokenAnswer {
        guard authenticator.issuesTokens else {
            throw APIError(
                .notFound, code: "login_disabled",
                message: "token login is not configured on this server (set AUTH_USERNAME, AUTH_PASSWORD and JWT_SECRET)")
        }
        let login = try await request.decodeJSON(
            as: Login.self, upTo: 16 * 1024, expected: "the body must be {\"username\": \"...\", \"password\": \"...\"}",
            details: [.init(field: "username", problem: "and password are required strings")])
        let issued: Authenticator.Token?
        do {
            issued = try await authenticator.login(username: login.username, password: login.password, address: context.clientAddress)
        } catch let failure as Authenticator.Failure {
            context.logger.notice("login throttled")
            throw RouteAccess.refusal(failure)
        }
        guard let token = issued else {
            context.logger.notice("login refused")
            throw RouteAccess.unauthorized("the username or password is not valid", error: nil)
        }
        context.logger.notice("token issued", metadata: ["expires_in": "\(token.expiresIn)"])
        return TokenAnswer(
            access_token: token.value, token_type: "bearer", expires_in: token.expiresIn,
            scope: token.scopes.sorted().map(\.rawValue).joined(separator: " "))
    }
}
