import Foundation
import Hummingbird

/// `POST /auth/token`: `{"username", "password"}` in, an HS256 bearer token out.
struct AuthController {
    let authenticator: Authenticator

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/auth/token", use: token)
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
        try PredictController.requireJSON(request)
        let body = try await PredictController.collect(request, upTo: 16 * 1024)
        let login: Login
        do {
            login = try JSONDecoder().decode(Login.self, from: Data(buffer: body))
        } catch {
            throw APIError.validation(
                "the body must be {\"username\": \"...\", \"password\": \"...\"}",
                [.init(field: "username", problem: "and password are required strings")])
        }
        guard let token = try await authenticator.login(username: login.username, password: login.password) else {
            context.logger.notice("login refused")
            throw AccessMiddleware.unauthorized("the username or password is not valid", error: nil)
        }
        context.logger.notice("token issued", metadata: ["expires_in": "\(token.expiresIn)"])
        return TokenAnswer(
            access_token: token.value, token_type: "bearer", expires_in: token.expiresIn,
            scope: token.scopes.sorted().map(\.rawValue).joined(separator: " "))
    }
}
