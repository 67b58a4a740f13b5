import Foundation
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// Builds a runtime from routes and connections written in code (no YAML, no validation), so that the
/// planner's own defences are tested, not the config checks in front of them.
func makeRuntime(
    routes: [RouteSettings], connections: [ConnectionSettings], unmatched: UnmatchedPolicy = .passthrough
) throws -> ProxyRuntime {
    let configuration = ProxyConfiguration(
        sourcePath: "test.conf", unmatched: unmatched, connections: connections, routes: routes)
    return try ProxyRuntime(configuration: configuration) { StaticCredentialSource(settings: $0, scrubber: SecretScrubber()) }
}

func forwardPlan(_ plan: RequestPlan) -> ForwardPlan? {
    if case .forward(let forward) = plan { return forward }
    return nil
}

/// The head `plan` sends upstream on an attempt: the one rewrite step over the plan's head.
func written(_ plan: ForwardPlan, credential: InjectedCredential? = nil) -> HTTPRequestHead {
    RequestRewrite.upstreamHead(
        plan: plan, credential: credential, framing: .none, receivedVersion: .http1_1)
}

func rejection(_ plan: RequestPlan) -> ProxyError? {
    if case .reject(let error) = plan { return error }
    return nil
}

@Suite struct RequestPlannerTests {
    let partner = ConnectionSettings(name: "partner", kind: .basic(username: "svc", password: SecretString("pw")))
    let open = ConnectionSettings(name: "open", kind: .none)

    func runtime(unmatched: UnmatchedPolicy = .passthrough) throws -> ProxyRuntime {
        try makeRuntime(
            routes: [
                RouteSettings(
                    name: "partner", host: HostPattern(name: .exact("api.partner.example")), connection: "partner",
                    upstream: UpstreamURL(scheme: "https", host: "api.partner.example", port: 443)),
                RouteSettings(
                    name: "weather", pathPrefix: "/weather/", connection: "partner",
                    upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089, basePath: "/base"),
                    stripPrefix: true),
                RouteSettings(
                    name: "public", host: HostPattern(name: .exact("public.example")), connection: "open",
                    upstream: UpstreamURL(scheme: "https", host: "public.example", port: 443)),
                RouteSettings(
                    name: "leaky", host: HostPattern(name: .exact("leaky.example")), connection: "partner"),
            ],
            connections: [partner, open], unmatched: unmatched)
    }

    func head(_ method: String = "GET", _ target: String, _ fields: [(String, String)]) -> HTTPRequestHead {
        HTTPRequestHead(method: method, target: target, headers: HTTPHeaders(fields))
    }

    @Test func routedRequestLosesEveryClientCredentialAndGetsTheUpstreamHost() throws {
        let request = head(
            "GET", "http://api.partner.example/v2/orders?id=1",
            [
                ("Host", "api.partner.example"), ("authorization", "Bearer client-1"), ("AUTHORIZATION", "Basic x"),
                ("Proxy-Authorization", "Basic proxy"), ("X-Keep", "1"),
            ])
        let plan = try #require(forwardPlan(RequestPlanner.plan(request, runtime: runtime())))
        #expect(plan.routeName == "partner")
        #expect(plan.endpoint == UpstreamEndpoint(scheme: "https", host: "api.partner.example", port: 443, serverName: "api.partner.example"))
        #expect(plan.head.target == "/v2/orders?id=1")
        #expect(written(plan).headers.values(for: "Authorization").isEmpty)
        #expect(written(plan).headers.values(for: "Proxy-Authorization").isEmpty)
        #expect(written(plan).headers.values(for: "Host") == ["api.partner.example"])
        #expect(written(plan).headers.first("X-Keep") == "1")

        let credential = StaticCredentialSource.makeCredential(partner.kind, scrubber: SecretScrubber())
        #expect(written(plan, credential: credential).headers.values(for: "authorization") == ["Basic c3ZjOnB3"])
    }

    @Test func routeModeStripsThePrefixAndPrependsTheUpstreamBasePath() throws {
        let request = head("POST", "/weather/today?city=Oslo", [("Host", "127.0.0.1:3128")])
        let plan = try #require(forwardPlan(RequestPlanner.plan(request, runtime: runtime())))
        #expect(plan.routeName == "weather")
        #expect(plan.head.target == "/base/today?city=Oslo")
        #expect(written(plan).headers.first("Host") == "127.0.0.1:8089")
    }

    @Test func hopByHopFieldsAreRemovedIncludingThoseNamedInConnection() throws {
        let request = head(
            "GET", "http://api.partner.example/",
            [
                ("Host", "api.partner.example"), ("Connection", "keep-alive, X-Drop"), ("X-Drop", "1"),
                ("Keep-Alive", "5"), ("TE", "gzip"), ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"),
                ("X-Dup", "a"), ("X-Dup", "b"),
            ])
        let plan = try #require(forwardPlan(RequestPlanner.plan(request, runtime: runtime())))
        for name in ["Connection", "X-Drop", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection"] {
            #expect(!written(plan).headers.contains(name), "\(name) should be removed")
        }
        #expect(written(plan).headers.values(for: "X-Dup") == ["a", "b"])
    }

    /// `TE: trailers` alone goes on, in the proxy's name (see `RequestRewrite.upstreamHead`).
    @Test func teTrailersGoesOnWithConnectionTE() throws {
        let request = head(
            "GET", "http://api.partner.example/",
            [("Host", "api.partner.example"), ("Connection", "TE, X-Drop"), ("X-Drop", "1"), ("TE", "trailers, gzip")])
        let plan = try #require(forwardPlan(RequestPlanner.plan(request, runtime: runtime())))
        #expect(written(plan).headers.values(for: "TE") == ["trailers"])
        #expect(written(plan).headers.values(for: "Connection") == ["TE"])
        #expect(!written(plan).headers.contains("X-Drop"))
    }

    @Test func unmatchedPassthroughKeepsAuthorizationButNotProxyAuthorization() throws {
        let request = head(
            "GET", "http://elsewhere.example:8080/x",
            [("Host", "elsewhere.example:8080"), ("Authorization", "Bearer mine"), ("Proxy-Authorization", "Basic p")])
        let plan = try #require(forwardPlan(RequestPlanner.plan(request, runtime: runtime())))
        #expect(plan.route == nil)
        #expect(written(plan).headers.first("Authorization") == "Bearer mine")
        #expect(!written(plan).headers.contains("Proxy-Authorization"))
        #expect(plan.endpoint.port == 8080)
        #expect(written(plan).headers.first("Host") == "elsewhere.example:8080")
    }

    @Test func unmatchedDenyAnswers403() throws {
        let request = head("GET", "http://elsewhere.example/x", [("Host", "elsewhere.example")])
        let error = try #require(rejection(RequestPlanner.plan(request, runtime: runtime(unmatched: .deny))))
        #expect(error.status == 403)
        #expect(error.code == .denied)
    }

    @Test func typeNoneStripsAndInjectsNothing() throws {
        let request = head("GET", "http://public.example/", [("Host", "public.example"), ("Authorization", "Bearer mine")])
        let plan = try #require(forwardPlan(RequestPlanner.plan(request, runtime: runtime())))
        #expect(!written(plan).headers.contains("Authorization"))
        #expect(plan.route?.injectsCredentials == false)
    }

    @Test func connectToARoutedHostIsRefusedWithAnExplanation() throws {
        let request = head("CONNECT", "api.partner.example:443", [("Host", "api.partner.example:443")])
        let error = try #require(rejection(RequestPlanner.plan(request, runtime: runtime())))
        #expect(error.status == 403)
        #expect(error.code == .connectRefusedForRoute)
        #expect(error.detail.contains("http://"))
        #expect(error.detail.contains("upstream: https://"))
    }

    @Test func connectToAnUnroutedHostTunnelsOnlyWithPassthrough() throws {
        let request = head("CONNECT", "elsewhere.example:443", [("Host", "elsewhere.example:443")])
        guard case .tunnel(let host, let port) = RequestPlanner.plan(request, runtime: try runtime()) else {
            Issue.record("expected a tunnel")
            return
        }
        #expect(host == "elsewhere.example" && port == 443)
        #expect(rejection(RequestPlanner.plan(request, runtime: try runtime(unmatched: .deny)))?.code == .denied)
    }

    @Test func credentialsAreNeverSentOverPlainHTTPToARemoteHost() throws {
        let request = head("GET", "http://leaky.example/x", [("Host", "leaky.example")])
        let error = try #require(rejection(RequestPlanner.plan(request, runtime: runtime())))
        #expect(error.code == .plaintextCredentials)
        #expect(error.route == "leaky")
    }

    @Test func originFormWithoutARouteIs404() throws {
        let request = head("GET", "/nothing/here", [("Host", "127.0.0.1:3128")])
        let error = try #require(rejection(RequestPlanner.plan(request, runtime: runtime())))
        #expect(error.status == 404)
        #expect(error.code == .noRoute)
    }

    @Test func errorBodyIsJSONWithRouteConnectionAndHeader() throws {
        let error = ProxyError(.upstreamTimeout, "no \"answer\"", route: "r1", connection: "c1")
        let response = String(decoding: error.response(close: true, scrubber: SecretScrubber()), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(response.contains("X-Latchkey-Error: upstream_timeout\r\n"))
        #expect(response.contains("Connection: close\r\n"))
        let body = try #require(response.components(separatedBy: "\r\n\r\n").last)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        #expect(json == ["error": "upstream_timeout", "detail": "no \"answer\"", "route": "r1", "connection": "c1"])
    }

    /// Issue 11: a detail quoting provider text is scrubbed with the scrubber the caller hands in.
    @Test func errorBodyDetailIsScrubbedWithTheGivenScrubber() throws {
        let scrubber = SecretScrubber()
        scrubber.register(["client-s3cret"])
        let error = ProxyError(.credentialUnavailable, "invalid_client: bad secret client-s3cret", connection: "c1")
        let response = String(decoding: error.response(close: false, scrubber: scrubber), as: UTF8.self)
        #expect(response.contains("bad secret [redacted]") && !response.contains("client-s3cret"))
    }
}
