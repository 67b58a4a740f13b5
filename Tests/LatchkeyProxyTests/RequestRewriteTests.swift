import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// The rules around routing (issue 9, items 1, 5, 7 and 10), one at a time.
@Suite struct RequestRewriteTests {
    static let pseudonym = "latchkey-0123456789ab"
    let partner = ConnectionSettings(name: "partner", kind: .bearer(token: SecretString("s3cret-token")))
    let keyed = ConnectionSettings(
        name: "keyed", kind: .apiKey(key: SecretString("k3y-value"), header: "X-Partner-Key", scheme: .none))

    func runtime() throws -> ProxyRuntime {
        try makeRuntime(
            routes: [
                RouteSettings(
                    name: "ro", pathPrefix: "/ro/", methods: ["GET", "TRACE", "trace", "TRACK", "OPTIONS"],
                    connection: "partner",
                    upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089)),
                RouteSettings(
                    name: "plain", pathPrefix: "/plain/",
                    upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8090)),
            ],
            connections: [partner, keyed], unmatched: .deny)
    }

    func head(_ method: String, _ target: String, _ fields: [(String, String)], version: HTTPVersion = .http1_1)
        -> HTTPRequestHead
    {
        HTTPRequestHead(
            method: method, target: target, version: version, headers: HTTPHeaders([("Host", "lk")] + fields))
    }

    func plan(_ request: HTTPRequestHead) throws -> RequestPlan {
        RequestRewrite.plan(request, runtime: try runtime(), pseudonym: Self.pseudonym)
    }

    // MARK: Connection options (item 1)

    @Test(arguments: [
        "Content-Length", "transfer-encoding", "close, Host", "Via", "Authorization", "Proxy-Authorization",
    ])
    func connectionNamingAProtectedFieldIsRefusedWith400(option: String) throws {
        let request = head("GET", "/ro/x", [("Connection", option), ("Content-Length", "5")])
        let error = try #require(rejection(try plan(request)))
        #expect(error.status == 400)
        #expect(error.code == .connectionOptionRefused)
        #expect(error.detail.contains("Connection must not name"))
    }

    @Test func connectionTEIsAllowedAndOnlyTETrailersGoesOnInTheProxysName() throws {
        let request = head("GET", "/ro/x", [("Connection", "TE"), ("TE", "trailers")])
        let forward = try #require(forwardPlan(try plan(request)))
        #expect(written(forward).headers.values(for: "TE") == ["trailers"])
        #expect(written(forward).headers.values(for: "Connection") == ["TE"])
        let gzip = head("GET", "/ro/x", [("Connection", "TE"), ("TE", "gzip")])
        let other = try #require(forwardPlan(try plan(gzip)))
        #expect(!written(other).headers.contains("TE"))
        #expect(!written(other).headers.contains("Connection"))
    }

    // MARK: The head as written upstream (items 1, 7, 10)

    /// `RequestRewrite.upstreamHead` over `base` for a plan to 127.0.0.1:8089, routed or not.
    func upstreamHead(
        _ base: HTTPRequestHead, routed: Bool = false, credential: InjectedCredential?, framing: HTTPBodyFraming,
        receivedVersion: HTTPVersion
    ) throws -> HTTPRequestHead {
        let plan = ForwardPlan(
            route: routed ? try runtime().routes["ro"] : nil,
            endpoint: UpstreamEndpoint(scheme: "http", host: "127.0.0.1", port: 8089, serverName: "127.0.0.1"),
            tls: nil, head: base, timeout: .seconds(1), connectTimeout: .seconds(1), clientHost: "lk")
        return RequestRewrite.upstreamHead(
            plan: plan, credential: credential, framing: framing, receivedVersion: receivedVersion)
    }

    @Test func framingComesFromTheParsedFramingOnly() throws {
        var planned = head("POST", "/x", [("Content-Length", "0005"), ("Transfer-Encoding", "chunked"), ("X-A", "1")])
        planned.headers.remove(name: "Host")
        let written = try upstreamHead(
            planned, credential: nil, framing: .contentLength(5), receivedVersion: .http1_1)
        #expect(written.headers.values(for: "Content-Length") == ["5"])
        #expect(!written.headers.contains("Transfer-Encoding"))

        let chunked = try upstreamHead(
            planned, credential: nil, framing: .chunked, receivedVersion: .http1_1)
        #expect(chunked.headers.values(for: "Transfer-Encoding") == ["chunked"])
        #expect(!chunked.headers.contains("Content-Length"))

        let none = try upstreamHead(planned, credential: nil, framing: .none, receivedVersion: .http1_1)
        #expect(!none.headers.contains("Transfer-Encoding") && !none.headers.contains("Content-Length"))
    }

    @Test func anInjectedHeaderCannotOverrideTheFraming() throws {
        let credential = InjectedCredential(headerName: "Content-Length", headerValue: SecretString("99"))
        let written = try upstreamHead(
            head("POST", "/x", []), credential: credential, framing: .contentLength(3), receivedVersion: .http1_1)
        #expect(written.headers.values(for: "Content-Length") == ["3"])
    }

    @Test func http10IsForwardedAsHTTP11WithViaNamingTheReceivedVersion() throws {
        let request = head("GET", "/x", [("Via", "1.1 other-proxy")], version: .http1_0)
        let written = try upstreamHead(request, credential: nil, framing: .none, receivedVersion: .http1_0)
        #expect(written.version == .http1_1)
        #expect(written.headers.values(for: "Via") == ["1.1 other-proxy", "1.0 \(ViaField.pseudonym)"])
        let from11 = try upstreamHead(request, credential: nil, framing: .none, receivedVersion: .http1_1)
        #expect(from11.headers.values(for: "Via").last == "1.1 \(ViaField.pseudonym)")
    }

    /// The one step, whole: client credentials and hop-by-hop fields out, the credential in, Host and Via set,
    /// framing last — on a routed plan. Run per attempt on the same plan head, it gives the same head (no
    /// second Via, no second credential).
    @Test func oneStepWritesTheWholeUpstreamHead() throws {
        let base = head(
            "POST", "/ro/x",
            [
                ("authorization", "Bearer client-1"), ("AUTHORIZATION", "Basic x"), ("Proxy-Authorization", "Basic p"),
                ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "5"), ("X-Keep", "k"),
                ("Content-Length", "3"),
            ])
        let credential = InjectedCredential(
            headerName: "Authorization", headerValue: SecretString("Bearer s3cret-token"))
        let first = try upstreamHead(
            base, routed: true, credential: credential, framing: .contentLength(3), receivedVersion: .http1_1)
        let retry = try upstreamHead(
            base, routed: true, credential: credential, framing: .contentLength(3), receivedVersion: .http1_1)
        #expect(first == retry)
        #expect(first.target == "/ro/x")
        #expect(first.headers.values(for: "Authorization") == ["Bearer s3cret-token"])
        for name in ["Proxy-Authorization", "Connection", "X-Hop", "Keep-Alive"] {
            #expect(!first.headers.contains(name), "\(name)")
        }
        #expect(first.headers.values(for: "Host") == ["127.0.0.1:8089"])
        #expect(first.headers.values(for: "Via") == ["1.1 \(ViaField.pseudonym)"])
        #expect(first.headers.values(for: "X-Keep") == ["k"])
        #expect(Array(first.headers).last?.name == "Content-Length")
    }

    /// A request no route serves keeps the client's own `Authorization` (it is the client's call), never its
    /// `Proxy-Authorization` (meant for this proxy).
    @Test func anUnroutedPlanKeepsTheClientsAuthorizationOnly() throws {
        let base = head("GET", "/x", [("Authorization", "Bearer mine"), ("Proxy-Authorization", "Basic p")])
        let sent = try upstreamHead(base, credential: nil, framing: .none, receivedVersion: .http1_1)
        #expect(sent.headers.values(for: "Authorization") == ["Bearer mine"])
        #expect(!sent.headers.contains("Proxy-Authorization"))
        #expect(sent.headers.values(for: "Host") == ["127.0.0.1:8089"])
    }

    @Test func pseudonymIsRandomHexPerProcess() {
        let name = ViaField.pseudonym
        #expect(name.hasPrefix("latchkey-"))
        #expect(name.count == "latchkey-".count + 12)
        #expect(name.dropFirst(9).allSatisfy { $0.isHexDigit })
    }

    // MARK: Via loops (item 7)

    @Test func viaNamingThisProxyIsALoop() throws {
        for via in [
            "1.1 \(Self.pseudonym)", "1.0 a, 1.1 \(Self.pseudonym) (comment)", "HTTP/1.1 LATCHKEY-0123456789AB",
        ] {
            let error = try #require(rejection(try plan(head("GET", "/ro/x", [("Via", via)]))), "\(via)")
            #expect(error.status == 508)
            #expect(error.code == .forwardingLoop)
        }
    }

    @Test func aLoopIsNeverRetried() {
        var settings = RetrySettings()
        settings.maxRetries = 3
        settings.retryOnAllErrors = true
        let policy = RetryPolicy(settings: settings, timeoutMs: 1000, deadlineMs: nil)
        #expect(!policy.isRetryable(.status(508)))
        #expect(policy.isRetryable(.status(502)))
    }

    @Test func viaNamingAnotherLatchkeyIsForwarded() throws {
        let request = head("GET", "/ro/x", [("Via", "1.1 latchkey-ffffffffffff, 1.1 \(Self.pseudonym)x")])
        #expect(forwardPlan(try plan(request)) != nil)
    }

    // MARK: TRACE and Max-Forwards (item 5)

    @Test func traceOnACredentialRouteIsRefusedWith403() throws {
        for method in ["TRACE", "trace", "TRACK", "tRaCk"] {
            let error = try #require(rejection(try plan(head(method, "/ro/x", []))))
            #expect(error.status == 403)
            #expect(error.code == .traceRefused, "\(method)")
        }
        let error = try #require(rejection(try plan(head("TRACE", "/ro/x", [("Max-Forwards", "3")]))))
        #expect(error.code == .traceRefused)
        #expect(error.route == "ro")
    }

    @Test func onlyTraceTrackAndOptionsGoThroughTheMethodRules() {
        for method in ["TRACE", "trace", "TRACK", "Track", "OPTIONS"] {
            #expect(RequestRewrite.hasMethodRules(method), "\(method)")
        }
        // OPTIONS is matched as sent (methods are case-sensitive, RFC 9110 §9.1); only TRACE and TRACK are
        // refused in any case, because IIS and others answer them so.
        for method in ["GET", "POST", "options", "TRACES", "TRAC", "CONNECT", ""] {
            #expect(!RequestRewrite.hasMethodRules(method), "\(method)")
        }
    }

    @Test func traceWithoutCredentialIsForwardedWithMaxForwardsDecremented() throws {
        let forward = try #require(forwardPlan(try plan(head("TRACE", "/plain/x", [("Max-Forwards", "0010")]))))
        #expect(forward.head.headers.values(for: "Max-Forwards") == ["9"])
        let options = try #require(forwardPlan(try plan(head("OPTIONS", "/ro/x", [("Max-Forwards", "1")]))))
        #expect(options.head.headers.values(for: "Max-Forwards") == ["0"])
        let get = try #require(forwardPlan(try plan(head("GET", "/ro/x", [("Max-Forwards", "1")]))))
        #expect(get.head.headers.values(for: "Max-Forwards") == ["1"])  // other methods: untouched (§7.6.2)
    }

    @Test func maxForwardsZeroIsAnsweredByTheProxy() throws {
        let trace = head(
            "TRACE", "/ro/x?q=1",
            [
                ("Max-Forwards", "0"), ("Authorization", "Bearer mine"), ("Cookie", "c=1"), ("X-Partner-Key", "k"),
                ("X-A", "1"),
            ])
        guard case .respond(let echo) = try plan(trace) else {
            Issue.record("TRACE with Max-Forwards: 0 was not answered locally")
            return
        }
        #expect(echo.status == 200)
        #expect(echo.contentType == "message/http")
        let text = String(decoding: echo.body, as: UTF8.self)
        #expect(text.hasPrefix("TRACE /ro/x?q=1 HTTP/1.1\r\nHost: lk\r\n"))
        #expect(text.contains("X-A: 1\r\n"))
        for secret in ["Authorization", "Cookie", "X-Partner-Key", "s3cret"] { #expect(!text.contains(secret)) }

        guard case .respond(let options) = try plan(head("OPTIONS", "/ro/x", [("Max-Forwards", "0")])) else {
            Issue.record("OPTIONS with Max-Forwards: 0 was not answered locally")
            return
        }
        #expect(options.status == 200 && options.body.isEmpty)
        #expect(String(decoding: options.bytes(close: false), as: UTF8.self).contains("Content-Length: 0\r\n"))
    }

    @Test func optionsAsteriskWithMaxForwardsZeroAsksTheProxyItself() throws {
        guard case .respond(let answer) = try plan(head("OPTIONS", "*", [("Max-Forwards", "0")])) else {
            Issue.record("OPTIONS * with Max-Forwards: 0 was not answered locally")
            return
        }
        #expect(answer.status == 200)
        #expect(rejection(try plan(head("OPTIONS", "*", []))) != nil)
        #expect(rejection(try plan(head("OPTIONS", "*", [("Max-Forwards", "1")]))) != nil)
    }

    @Test func invalidMaxForwardsIsA400ForTraceAndOptions() throws {
        for value in ["-1", "1.5", "x", "1, 2"] {
            let error = try #require(rejection(try plan(head("OPTIONS", "/ro/x", [("Max-Forwards", value)]))))
            #expect(error.status == 400)
        }
        #expect(RequestRewrite.maxForwards(["Max-Forwards": "99999999999999999999999"]) == .some(.some(1 << 31)))
        #expect(RequestRewrite.maxForwards([:]) == nil)
    }
}
