import Foundation

/// Where an outgoing call's redirect leads, and whether it may be followed (issue 24): a server we
/// were configured to call (a tracking server) must not send our credentials, or our requests,
/// to another host unless the operator said so. async-http-client follows redirects to any host,
/// so the clients follow them themselves, through this.
public enum Redirects {
    /// At most this many redirects for one call.
    public static let maximum = 3

    /// A redirect that is not followed, with the reason.
    public struct Refused: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The statuses that redirect.
    public static func isRedirect(_ status: UInt) -> Bool { [301, 302, 303, 307, 308].contains(status) }

    /// The absolute URL `location` points to from `url` (a relative one resolved against it), and
    /// whether it is on the same origin (scheme, host and port). Throws `Refused` for a location
    /// that is not http(s), and for another origin unless `otherHosts` allows it.
    public static func target(from url: String, location: String, otherHosts: Bool, setting: String) throws -> (url: String, sameOrigin: Bool) {
        guard let base = URL(string: url), let next = URL(string: location, relativeTo: base)?.absoluteURL,
            let scheme = next.scheme?.lowercased(), scheme == "http" || scheme == "https", next.host != nil
        else {
            throw Refused(description: "redirected to '\(UpstreamText.excerpt(location, limit: 100))', which is not an http(s) URL")
        }
        let same = scheme == base.scheme?.lowercased() && next.host?.lowercased() == base.host?.lowercased()
            && (next.port ?? defaultPort(scheme)) == (base.port ?? defaultPort(base.scheme?.lowercased() ?? ""))
        guard same || otherHosts else {
            throw Refused(
                description: "redirected to another host (\(scheme)://\(next.host ?? "?")\(next.port.map { ":\($0)" } ?? "")); not followed unless \(setting)=true")
        }
        return (next.absoluteString, same)
    }

    private static func defaultPort(_ scheme: String) -> Int { scheme == "https" ? 443 : 80 }
}
