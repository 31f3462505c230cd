import Hummingbird

/// Development mode allows everything and binds loopback only; a page on another site can still
/// reach it through DNS rebinding (its name resolving to 127.0.0.1), but its requests carry that
/// site's name in `Host`. So in development mode only `Host` values that name loopback are
/// answered (421 Misdirected Request otherwise); a request without `Host` (HTTP/1.0) passes.
enum LoopbackHost {
    static func check(_ request: Request) throws {
        if let host = request.head.authority, !Configuration.isLoopbackHostHeader(host) {
            throw APIError(
                .misdirectedRequest, code: "host_not_allowed",
                message: "development mode answers only requests for localhost, 127.x.x.x or [::1]; configure credentials to serve other names")
        }
    }
}
