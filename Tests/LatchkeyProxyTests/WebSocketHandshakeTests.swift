import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// Which requests are WebSocket handshakes the proxy carries, and the heads on each side (issue 13).
@Suite struct WebSocketHandshakeTests {
    static let upgrade: [(String, String)] = [
        ("Host", "api.example"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "chat"), ("Authorization", "Bearer client-own"),
    ]

    func head(_ method: String = "GET", _ fields: [(String, String)] = upgrade, version: HTTPVersion = .http1_1)
        -> HTTPRequestHead
    {
        HTTPRequestHead(method: method, target: "http://api.example/socket", version: version, headers: HTTPHeaders(fields))
    }

    @Test func aWebSocketGetIsAHandshake() {
        #expect(WebSocketHandshake.classify(head(), framing: .none) == .webSocket)
        #expect(WebSocketHandshake.classify(head(), framing: .contentLength(0)) == .webSocket)
        let spelled = [("Host", "a"), ("upgrade", "WebSocket"), ("connection", "UPGRADE")]
        #expect(WebSocketHandshake.classify(head("GET", spelled), framing: .none) == .webSocket)
    }

    @Test func otherUpgradesAndAnUpgradeWithoutTheConnectionOptionArePlain() {
        #expect(WebSocketHandshake.classify(head("GET", [("Upgrade", "h2c"), ("Connection", "Upgrade")]), framing: .none) == .plain)
        #expect(WebSocketHandshake.classify(head("GET", [("Upgrade", "websocket")]), framing: .none) == .plain)
        #expect(WebSocketHandshake.classify(head("GET", [("Host", "a")]), framing: .none) == .plain)
    }

    @Test func aHandshakeThatIsNotAnHTTP11GetWithoutBodyIsRefused() {
        for (request, framing) in [
            (head("POST"), HTTPBodyFraming.none), (head(), .contentLength(3)), (head(), .chunked),
            (head(version: .http1_0), .none),
        ] {
            guard case .refused = WebSocketHandshake.classify(request, framing: framing) else {
                Issue.record("\(request.method) \(request.version) \(framing) was not refused")
                continue
            }
        }
    }

    @Test func planningMarksTheHandshakeAndRefusesABadOneWith400() throws {
        let runtime = try makeRuntime(
            routes: [
                RouteSettings(
                    name: "api", host: HostPattern(name: .exact("api.example")), connection: "api",
                    upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089))
            ],
            connections: [ConnectionSettings(name: "api", kind: .bearer(token: SecretString("t0ken")))])
        guard case .forward(let plan) = RequestRewrite.plan(head(), runtime: runtime, framing: .none) else {
            Issue.record("the handshake must be forwarded")
            return
        }
        #expect(plan.upgradesToWebSocket)
        guard case .reject(let error) = RequestRewrite.plan(head("POST"), runtime: runtime, framing: .none) else {
            Issue.record("a POST handshake must be refused")
            return
        }
        #expect(error.status == 400 && error.code == .badRequest)

        // The upstream head: Upgrade and Connection as the handshake needs them, Sec-WebSocket-* kept, the
        // client's Authorization replaced by the route's credential.
        let credential = InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer t0ken"))
        let upstream = RequestRewrite.upstreamHead(
            plan: plan, credential: credential, framing: .none, receivedVersion: .http1_1)
        #expect(upstream.headers.values(for: "Upgrade") == ["websocket"])
        #expect(upstream.headers.values(for: "Connection") == ["Upgrade"])
        #expect(upstream.headers.values(for: "Authorization") == ["Bearer t0ken"])
        #expect(upstream.headers.values(for: "Sec-WebSocket-Key") == ["dGhlIHNhbXBsZSBub25jZQ=="])
        #expect(upstream.headers.values(for: "Sec-WebSocket-Protocol") == ["chat"])

        // Another protocol: planned as an ordinary request, and Upgrade stays stripped.
        let h2c = head("GET", [("Host", "api.example"), ("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings")])
        guard case .forward(let plain) = RequestRewrite.plan(h2c, runtime: runtime, framing: .none) else {
            Issue.record("an h2c upgrade request is forwarded as a plain request")
            return
        }
        #expect(!plain.upgradesToWebSocket)
        let stripped = RequestRewrite.upstreamHead(
            plan: plain, credential: nil, framing: .none, receivedVersion: .http1_1)
        #expect(!stripped.headers.contains("Upgrade") && !stripped.headers.contains("Connection"))
    }

    @Test func anUnroutedHandshakeUnderPassthroughIsCarriedWithoutCredential() throws {
        let runtime = try makeRuntime(routes: [], connections: [], unmatched: .passthrough)
        let request = HTTPRequestHead(
            method: "GET", target: "http://elsewhere.example/socket",
            headers: HTTPHeaders([("Host", "elsewhere.example"), ("Upgrade", "websocket"), ("Connection", "Upgrade")]))
        guard case .forward(let plan) = RequestRewrite.plan(request, runtime: runtime, framing: .none) else {
            Issue.record("a passthrough handshake is forwarded")
            return
        }
        #expect(plan.upgradesToWebSocket && plan.route == nil)
    }

    @Test func the101ForTheClientKeepsTheUpgradeFields() {
        let upstream = HTTPResponseHead(
            status: 101, reason: "Switching Protocols",
            headers: HTTPHeaders([
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("Content-Length", "0"),
            ]))
        #expect(WebSocketHandshake.acceptsSwitch(upstream))
        let head = WebSocketHandshake.clientHead(upstream)
        #expect(head.headers.values(for: "Upgrade") == ["websocket"])
        #expect(head.headers.values(for: "Connection") == ["Upgrade"])
        #expect(head.headers.values(for: "Sec-WebSocket-Accept") == ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
        #expect(!head.headers.contains("Content-Length"))
        #expect(head.headers.contains("Via"))
        #expect(!WebSocketHandshake.acceptsSwitch(HTTPResponseHead(status: 101, headers: HTTPHeaders([("Upgrade", "h2c")]))))
    }
}
