import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// One route matcher and one host spelling for every request form (issue 11): a host-matched route — its
/// credential, its `methods`, and `unmatched: deny` behind it — applies to `API.example.com.` exactly as to
/// `api.example.com`, whether the request is a CONNECT, an absolute-form target or an origin-form one (by its
/// `Host`).
@Suite struct RequestPlannerHostTests {
    let partner = ConnectionSettings(name: "partner", kind: .bearer(token: SecretString("s3cret-token")))

    func runtime(unmatched: UnmatchedPolicy = .deny) throws -> ProxyRuntime {
        try makeRuntime(
            routes: [
                RouteSettings(
                    name: "api", host: HostPattern(name: .exact("api.example.com")), methods: ["GET"],
                    connection: "partner", upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089)),
                RouteSettings(
                    name: "local", host: HostPattern(name: .exact("localhost")), connection: "partner"),
                RouteSettings(
                    name: "leaky", host: HostPattern(name: .exact("leaky.example")), connection: "partner"),
                RouteSettings(
                    name: "demo", pathPrefix: "/demo/", connection: "partner",
                    upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8090)),
            ],
            connections: [partner], unmatched: unmatched)
    }

    func plan(_ method: String, _ target: String, host: String? = nil, unmatched: UnmatchedPolicy = .deny) throws
        -> RequestPlan
    {
        let fields = [("Host", host ?? target), ("Authorization", "Bearer client")]
        return RequestPlanner.plan(
            HTTPRequestHead(method: method, target: target, headers: HTTPHeaders(fields)),
            runtime: try runtime(unmatched: unmatched))
    }

    @Test(arguments: ["api.example.com:443", "API.Example.COM.:443", "api.example.com.:443"])
    func connectToARoutedHostIsRefusedWhateverItsSpelling(_ authority: String) throws {
        for unmatched in [UnmatchedPolicy.deny, .passthrough] {
            let error = try #require(rejection(try plan("CONNECT", authority, unmatched: unmatched)), "\(authority)")
            #expect(error.code == .connectRefusedForRoute, "\(authority)")
            #expect(error.route == "api")
        }
    }

    @Test(arguments: [
        "http://api.example.com/x", "http://API.example.com.:80/x", "http://api.example.com./x",
        "HTTP://API.EXAMPLE.COM.:80/x",
    ])
    func absoluteFormTakesTheRouteAndItsCredentialWhateverTheSpelling(_ target: String) throws {
        let forward = try #require(forwardPlan(try plan("GET", target)), "\(target)")
        #expect(forward.routeName == "api")
        #expect(forward.clientHost == "api.example.com")
        let credential = InjectedCredential(
            headerName: "Authorization", headerValue: SecretString("Bearer s3cret-token"))
        let sent = written(forward, credential: credential)
        #expect(sent.headers.values(for: "Authorization") == ["Bearer s3cret-token"])
        #expect(sent.headers.values(for: "Host") == ["127.0.0.1:8089"])
    }

    @Test(arguments: ["http://api.example.com/x", "http://API.example.com.:80/x"])
    func theRoutesMethodsApplyAndUnmatchedDenyStandsBehindThem(_ target: String) throws {
        let error = try #require(rejection(try plan("POST", target)), "\(target)")
        #expect(error.code == .denied)
        #expect(error.status == 403)
    }

    @Test func aRouteWithoutUpstreamForwardsToTheCanonicalHost() throws {
        let forward = try #require(forwardPlan(try plan("GET", "http://LOCALHOST./x")))
        #expect(forward.routeName == "local")
        #expect(forward.endpoint.host == "localhost")
        #expect(written(forward).headers.values(for: "Host") == ["localhost"])
        // The plain-text rule sees the same spelling: a trailing dot does not turn a remote host local or back.
        #expect(rejection(try plan("GET", "http://Leaky.Example./x"))?.code == .plaintextCredentials)
    }

    @Test(arguments: ["api.example.com..:443", ".api.example.com:443", "api..example.com:443", ".:443"])
    func anEmptyLabelIsNotAnotherSpellingButMalformed(_ authority: String) throws {
        let error = try #require(rejection(try plan("CONNECT", authority, unmatched: .passthrough)), "\(authority)")
        #expect(error.code == .badRequest)
        let absolute = try #require(rejection(try plan("GET", "http://\(authority)/x", unmatched: .passthrough)))
        #expect(absolute.code == .badRequest)
    }

    @Test(arguments: ["api.example.com", "API.example.com.", "api.example.com.:80"])
    func originFormTakesTheHostRouteWhateverTheHostSpelling(_ host: String) throws {
        let forward = try #require(forwardPlan(try plan("GET", "/demo/x", host: host)), "\(host)")
        #expect(forward.routeName == "api")
        #expect(forward.clientHost == "api.example.com")
        #expect(written(forward).headers.values(for: "Host") == ["127.0.0.1:8089"])
        // Its methods apply: a POST falls through to the routes without host.
        let post = try #require(forwardPlan(try plan("POST", "/demo/x", host: host)), "\(host)")
        #expect(post.routeName == "demo")
    }

    /// Route mode: the Host names this proxy, which no host route names, so routes without `host` serve it.
    @Test(arguments: ["127.0.0.1:3128", "LOCALHOST.:3128", "[::1]:3128"])
    func originFormNamingTheProxyIsRoutedOnItsPath(_ host: String) throws {
        let forward = try #require(forwardPlan(try plan("GET", "/demo/x", host: host)), "\(host)")
        #expect(forward.routeName == "demo")
        #expect(forward.endpoint.port == 8090)
        #expect(rejection(try plan("GET", "/elsewhere", host: host))?.code == .noRoute)
    }

    /// A host route without upstream never takes an origin-form request: its destination would come from the
    /// Host, which in route mode is this proxy's own address.
    @Test func originFormNeverTakesAHostRouteWithoutUpstream() throws {
        for host in ["localhost", "LocalHost.", "localhost:3128", "leaky.example"] {
            #expect(rejection(try plan("GET", "/x", host: host))?.code == .noRoute, "\(host)")
            #expect(forwardPlan(try plan("GET", "/demo/x", host: host))?.routeName == "demo", "\(host)")
        }
    }

    @Test func aTunnelGoesToTheCanonicalHost() throws {
        let error = try #require(rejection(try plan("CONNECT", "LocalHost.:8443", unmatched: .passthrough)))
        #expect(error.code == .connectRefusedForRoute && error.route == "local")
        guard case .tunnel(let host, _) = try plan("CONNECT", "Elsewhere.Example.:443", unmatched: .passthrough) else {
            Issue.record("expected a tunnel")
            return
        }
        #expect(host == "elsewhere.example")
    }
}
