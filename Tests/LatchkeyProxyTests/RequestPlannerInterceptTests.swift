import Foundation
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyTLS
import Testing

@testable import LatchkeyProxy

/// The interception rules of the planner: which CONNECT is intercepted, tunnelled or refused, and how a
/// request inside an intercepted tunnel is checked against the CONNECT origin (421) and routed.
@Suite struct RequestPlannerInterceptTests {
    let partner = ConnectionSettings(name: "partner", kind: .basic(username: "svc", password: SecretString("pw")))
    let other = ConnectionSettings(name: "other", kind: .bearer(token: SecretString("other-token")))
    let origin = InterceptedOrigin(host: "api.partner.example", port: 443)

    func routes(pinnedIntercept: Bool = false) -> [RouteSettings] {
        var pinned = RouteSettings(
            name: "pinned", host: HostPattern(name: .exact("pinned.example")), connection: "partner",
            upstream: UpstreamURL(scheme: "https", host: "pinned.example", port: 443))
        pinned.intercept = pinnedIntercept
        return [
            RouteSettings(
                name: "partner", host: HostPattern(name: .exact("api.partner.example")), pathPrefix: "/v1",
                connection: "partner",
                upstream: UpstreamURL(scheme: "https", host: "api.partner.example", port: 443)),
            RouteSettings(
                name: "other", host: HostPattern(name: .exact("other.example")), connection: "other",
                upstream: UpstreamURL(scheme: "https", host: "other.example", port: 443)),
            RouteSettings(
                name: "routemode", pathPrefix: "/hostless/", connection: "other",
                upstream: UpstreamURL(scheme: "https", host: "internal.example", port: 443)),
            pinned,
        ]
    }

    func runtime(intercepting: Bool = true, unmatched: UnmatchedPolicy = .deny, pinnedIntercept: Bool = false) throws
        -> ProxyRuntime
    {
        let configuration = ProxyConfiguration(
            sourcePath: "test.conf", unmatched: unmatched, connections: [partner, other],
            routes: routes(pinnedIntercept: pinnedIntercept))
        return try ProxyRuntime(configuration: configuration, interception: intercepting ? TestCA.authority : nil) {
            StaticCredentialSource(settings: $0, scrubber: SecretScrubber())
        }
    }

    func head(_ method: String = "GET", _ target: String, _ fields: [(String, String)]) -> HTTPRequestHead {
        HTTPRequestHead(method: method, target: target, headers: HTTPHeaders(fields))
    }

    func inner(_ target: String, host: String?, runtime: ProxyRuntime? = nil) throws -> RequestPlan {
        let request = head("GET", target, host.map { [("Host", $0)] } ?? [])
        return RequestPlanner.planIntercepted(request, origin: origin, runtime: try runtime ?? self.runtime())
    }

    // MARK: CONNECT

    @Test func connectToACredentialRouteIsInterceptedWhenConfigured() throws {
        let request = head("CONNECT", "API.Partner.Example.:443", [])
        guard case .intercept(let planned) = RequestPlanner.plan(request, runtime: try runtime()) else {
            Issue.record("expected .intercept")
            return
        }
        #expect(planned == origin)
    }

    @Test func connectWithoutInterceptIsRefusedNamingTheKey() throws {
        let request = head("CONNECT", "api.partner.example:443", [])
        let error = try #require(rejection(RequestPlanner.plan(request, runtime: try runtime(intercepting: false))))
        #expect(error.status == 403 && error.code == .connectRefusedForRoute)
        #expect(error.detail.contains("intercept"))
    }

    @Test func routeWithInterceptFalseIsTunnelledWhateverUnmatchedSays() throws {
        for intercepting in [true, false] {
            let plan = RequestPlanner.plan(
                head("CONNECT", "pinned.example:443", []), runtime: try runtime(intercepting: intercepting))
            guard case .tunnel(let host, let port) = plan else {
                Issue.record("expected a tunnel, got \(plan)")
                return
            }
            #expect(host == "pinned.example" && port == 443)
        }
        let port = RequestPlanner.plan(head("CONNECT", "pinned.example:8443", []), runtime: try runtime())
        #expect(rejection(port)?.code == .connectPortRefused)
    }

    @Test func unroutedConnectFollowsUnmatched() throws {
        let request = head("CONNECT", "elsewhere.example:443", [])
        #expect(rejection(RequestPlanner.plan(request, runtime: try runtime(unmatched: .deny)))?.code == .denied)
        guard case .tunnel = RequestPlanner.plan(request, runtime: try runtime(unmatched: .passthrough)) else {
            Issue.record("expected a passthrough tunnel")
            return
        }
    }

    // MARK: Inside the tunnel

    @Test func innerRequestForTheOriginGetsItsRoute() throws {
        for host in ["api.partner.example", "API.partner.example.", "api.partner.example:443"] {
            let plan = try #require(forwardPlan(try inner("/v1/items?x=1", host: host)), "\(host)")
            #expect(plan.routeName == "partner" && plan.intercepted)
            #expect(plan.head.target == "/v1/items?x=1")
            #expect(written(plan).headers.first("Host") == "api.partner.example")
        }
        let absolute = try #require(
            forwardPlan(try inner("https://api.partner.example/v1", host: "api.partner.example")))
        #expect(absolute.routeName == "partner")
    }

    @Test func innerRequestForAnotherOriginIs421() throws {
        let cases: [(String, String?)] = [
            ("/v1", "other.example"),  // another routed host: its credential must not be used
            ("/v1", "api.partner.example:8443"),  // another port
            ("/v1", "api.partner.example.evil"),
            ("/v1", nil),  // no Host at all
            ("/v1", "api.partner.example:"),  // malformed
            ("https://other.example/v1", "api.partner.example"),  // absolute-form names another host
            ("http://api.partner.example/v1", "api.partner.example"),  // plain http inside TLS
            ("https://api.partner.example:444/v1", "api.partner.example"),
            ("https://api.partner.example/v1", "other.example"),  // both must name the origin
        ]
        for (target, host) in cases {
            let error = try #require(rejection(try inner(target, host: host)), "\(target) Host: \(host ?? "-")")
            #expect(error.status == 421 && error.code == .misdirectedRequest, "\(target) \(host ?? "-")")
        }
        let twoHosts = head("GET", "/v1", [("Host", "api.partner.example"), ("Host", "other.example")])
        #expect(
            rejection(RequestPlanner.planIntercepted(twoHosts, origin: origin, runtime: try runtime()))?.status == 421)
    }

    @Test func innerRequestNeverMatchesAHostlessOrNonInterceptingRoute() throws {
        // /hostless/ would match the route-mode route in an absolute-form request to any host.
        #expect(rejection(try inner("/hostless/x", host: "api.partner.example"))?.code == .denied)
        let passthrough = try #require(
            forwardPlan(
                try inner("/hostless/x", host: "api.partner.example", runtime: try runtime(unmatched: .passthrough))))
        #expect(
            passthrough.route == nil && passthrough.endpoint.host == "api.partner.example" && passthrough.intercepted)
    }

    @Test func innerConnectAndAsteriskAreRefused() throws {
        let connect = head("CONNECT", "other.example:443", [("Host", "api.partner.example")])
        #expect(
            rejection(RequestPlanner.planIntercepted(connect, origin: origin, runtime: try runtime()))?.status == 400)
        let options = head("OPTIONS", "*", [("Host", "api.partner.example")])
        #expect(
            rejection(RequestPlanner.planIntercepted(options, origin: origin, runtime: try runtime()))?.status == 400)
    }

    @Test func aReloadThatStopsInterceptingStopsInjectingOnOpenConnections() throws {
        let off = try runtime(intercepting: false)
        #expect(rejection(try inner("/v1", host: "api.partner.example", runtime: off))?.status == 421)
        let pinnedNow = InterceptedOrigin(host: "pinned.example", port: 443)
        let request = head("GET", "/v1", [("Host", "pinned.example")])
        #expect(
            rejection(RequestPlanner.planIntercepted(request, origin: pinnedNow, runtime: try runtime()))?.status == 421
        )
        let plan = RequestPlanner.planIntercepted(
            request, origin: pinnedNow, runtime: try runtime(pinnedIntercept: true))
        #expect(forwardPlan(plan)?.routeName == "pinned")
    }

    @Test func rewriteRunsTheInterceptPlannerForAnOrigin() throws {
        let request = head("GET", "/v1", [("Host", "other.example")])
        #expect(rejection(RequestRewrite.plan(request, runtime: try runtime(), origin: origin))?.status == 421)
        let trace = head("TRACE", "/v1", [("Host", "api.partner.example")])
        #expect(rejection(RequestRewrite.plan(trace, runtime: try runtime(), origin: origin))?.code == .traceRefused)
    }
}
