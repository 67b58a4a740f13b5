import Dispatch
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyNet
import LatchkeyProxy
import Logging
import Synchronization
import Testing

@testable import LatchkeyAdmin

@Suite struct AdminAPITests {
    /// Calls the API and waits for its (possibly asynchronous) answer.
    func answer(_ api: AdminAPI, _ method: String, _ target: String) -> AdminAPI.Response? {
        let box = Mutex<AdminAPI.Response?>(nil)
        let done = DispatchSemaphore(value: 0)
        api.respond(method: method, target: target) { response in
            box.withLock { $0 = response }
            done.signal()
        }
        _ = done.wait(timeout: .now() + 10)
        return box.withLock { $0 }
    }

    func api(
        peerIsLoopback: Bool, scrubber: SecretScrubber = SecretScrubber(),
        lastReloadError: @escaping @Sendable () -> String? = { nil }
    ) throws -> AdminAPI {
        let runtime = try ProxyRuntime(configuration: ProxyConfiguration(sourcePath: "test.conf")) { _ in
            preconditionFailure("no connections")
        }
        let server = ProxyServer(
            runtime: runtime, logger: Logger(label: "test"), scrubber: scrubber, ownListeners: OwnListeners(),
            loopCount: 1)
        var api = AdminAPI(
            service: AdminService(
                server: server, pendingAuthorizations: AuthorizationStateStore(), lastReloadError: lastReloadError))
        api.peerIsLoopback = peerIsLoopback
        api.requestHeaders = ["Host": "127.0.0.1:9901", "X-Latchkey-Admin": "1"]
        return api
    }

    @Test(arguments: [("GET", "/connections/crm/connect"), ("POST", "/connections/crm/disconnect"), ("GET", "/oauth/callback?code=c&state=s")])
    func consentEndpointsRefuseNonLoopbackCallers(method: String, target: String) throws {
        let response = try #require(answer(try api(peerIsLoopback: false), method, target))
        #expect(response.status == 403)
        #expect(response.body.contains("\"loopback_only\""))
        #expect(response.body.contains("port-forward"))
    }

    @Test func readOnlyEndpointsAnswerEveryone() throws {
        let api = try api(peerIsLoopback: false)
        #expect(answer(api, "GET", "/healthz")?.status == 200)
        #expect(answer(api, "GET", "/readyz")?.status == 200)
        #expect(answer(api, "GET", "/connections")?.status == 200)
        #expect(answer(api, "GET", "/routes")?.status == 200)
        #expect(answer(api, "GET", "/metrics")?.status == 200)
    }

    /// Issue 16: the effective TLS policy per route, `min_version` always, the rest when set.
    @Test func tlsObjectShowsThePolicyAndFiles() {
        var tls = TLSSettings(caFile: "/etc/ca.pem", minVersion: .tls13)
        tls.curves = TLSPolicyText("X25519:P-256")
        #expect(
            AdminAPI.tlsJSON(tls) == #"{"min_version":"1.3","curves":"X25519:P-256","ca_file":"/etc/ca.pem"}"#)
        #expect(AdminAPI.tlsJSON(TLSSettings()) == #"{"min_version":"1.2"}"#)
    }

    /// Issue 14 §1: with no connection every connection is healthy; the endpoint is read-only and is not
    /// mistaken for a connection named "health".
    @Test func connectionHealthIsReadOnlyAndHealthyWithoutConnections() throws {
        let api = try api(peerIsLoopback: false)
        let health = try #require(answer(api, "GET", "/connections/health"))
        #expect(health.status == 200)
        #expect(health.body == "{\"status\":\"healthy\",\"unhealthy\":[]}\n")
        #expect(answer(api, "POST", "/connections/health")?.status == 405)
        #expect(answer(api, "GET", "/readyz")?.body == "{\"status\":\"ready\"}\n")
    }

    @Test func loopbackCallersReachTheConsentEndpoints() throws {
        // No such connection here: the answer comes from the endpoint itself (404), not the loopback guard.
        let response = try #require(answer(try api(peerIsLoopback: true), "GET", "/connections/crm/connect"))
        #expect(response.status == 404)
        #expect(response.body.contains("no oauth2_authorization_code connection named crm"))
    }

    @Test func crossSiteConsentRequestsAreRefusedBeforeTheEndpoint() throws {
        var api = try api(peerIsLoopback: true)
        api.requestHeaders = ["Host": "evil.example:9901", "X-Latchkey-Admin": "1"]
        for (method, target) in [("GET", "/connections/crm/connect"), ("POST", "/connections/crm/disconnect")] {
            let response = try #require(answer(api, method, target))
            #expect(response.status == 403)
            #expect(response.body.contains("\"cross_site_refused\""))
        }
        api.requestHeaders = ["Host": "127.0.0.1:9901", "Content-Type": "text/plain"]
        let post = try #require(answer(api, "POST", "/connections/crm/disconnect"))
        #expect(post.status == 403 && post.body.contains("X-Latchkey-Admin"))
    }

    @Test func queryStringsDecodeFormEncoding() {
        #expect(QueryString.parse("/cb?code=a%2Bb+c&state=x&state=y&empty=") == ["code": "a+b c", "state": "x", "empty": ""])
        #expect(QueryString.parse("/cb").isEmpty)
    }

    /// Issue 11: the reload status comes from the injected provider, and answers are scrubbed with the
    /// server's scrubber (a reload error may quote a secret a provider echoed).
    @Test func readinessShowsTheInjectedReloadErrorScrubbed() throws {
        let scrubber = SecretScrubber()
        scrubber.register(["tenant-s3cret"])
        let api = try api(peerIsLoopback: true, scrubber: scrubber) { "proxy.conf:3:5: bad value tenant-s3cret" }
        let response = try #require(answer(api, "GET", "/readyz"))
        #expect(response.status == 200)
        #expect(response.body.contains("\"config_reload_error\":\"proxy.conf:3:5: bad value [redacted]\""))
    }
}
