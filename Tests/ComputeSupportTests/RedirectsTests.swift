import ComputeSupport
import Testing

/// Redirects are followed on the same origin only, unless a setting allows other hosts.
@Suite("Redirects")
struct RedirectsTests {
    @Test func testSameOriginIsFollowedAndOtherHostsAreRefused() throws {
        let from = "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/a/model.ubj"
        let relative = try Redirects.target(from: from, location: "/api/2.0/mlflow-artifacts/artifacts/b/model.ubj", otherHosts: false, setting: "X")
        #expect(relative.url == "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/b/model.ubj" && relative.sameOrigin)
        let explicit = try Redirects.target(from: "https://ml.example.com/x", location: "https://ML.example.com:443/y", otherHosts: false, setting: "X")
        #expect(explicit.sameOrigin, "host case and the default port do not make another origin")
        for location in ["http://localhost:5000/x", "http://127.0.0.1:5001/x", "https://127.0.0.1:5000/x", "http://169.254.169.254/latest/meta-data"] {
            #expect(throws: Redirects.Refused.self, "\(location)") {
                try Redirects.target(from: from, location: location, otherHosts: false, setting: "X")
            }
        }
        let allowed = try Redirects.target(from: from, location: "http://localhost:5000/x", otherHosts: true, setting: "X")
        #expect(allowed.url == "http://localhost:5000/x" && !allowed.sameOrigin)
    }

    @Test func testOnlyHTTPLocationsAreFollowed() {
        for location in ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/x"] {
            #expect(throws: Redirects.Refused.self, "\(location)") {
                try Redirects.target(from: "http://127.0.0.1:5000/x", location: location, otherHosts: true, setting: "X")
            }
        }
        #expect(Redirects.isRedirect(302) && Redirects.isRedirect(308) && !Redirects.isRedirect(304) && !Redirects.isRedirect(200))
    }
}
