import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// WebSocket over HTTP/2 (RFC 8441): the translations between an extended CONNECT and the HTTP/1.1 handshake,
/// the accept check, and the refusals (issue 13).
@Suite struct WebSocketHandshakeHTTP2Tests {
    static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

    static func extendedConnect(
        protocol name: String? = "websocket", path: String? = "/chat?room=1", fields: [(String, String)] = []
    ) -> HTTP2RequestHead {
        HTTP2RequestHead(
            method: "CONNECT", scheme: "https", authority: "api.example", path: path, protocol: name,
            headers: HTTPHeaders(
                [("sec-websocket-version", "13"), ("sec-websocket-protocol", "chat, superchat"),
                 ("authorization", "Bearer client-own"), ("cookie", "a=1"), ("cookie", "b=2")] + fields))
    }

    @Test func theAcceptIsRFC6455sSample() {
        // RFC 6455 §1.3's worked example.
        #expect(WebSocketHandshake.accept(for: Self.sampleKey) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func aKeyIsSixteenRandomBytesInBase64() {
        let key = WebSocketHandshake.makeKey()
        #expect(Base64.decode(key)?.count == 16)
        #expect(key != WebSocketHandshake.makeKey())
    }

    @Test func anExtendedConnectBecomesTheHTTP11Handshake() throws {
        let sent = Self.extendedConnect(fields: [("sec-websocket-key", "from-the-client")])
        guard case .webSocket(let head) = WebSocketHandshake.handshake(fromExtendedConnect: sent, key: Self.sampleKey)
        else {
            Issue.record("expected a handshake")
            return
        }
        #expect(head.method == "GET" && head.target == "/chat?room=1" && head.version == .http1_1)
        #expect(head.headers.first("Host") == "api.example")
        #expect(head.headers.values(for: "Sec-WebSocket-Key") == [Self.sampleKey], "the proxy's key, never the client's")
        #expect(head.headers.first("Sec-WebSocket-Version") == "13")
        #expect(head.headers.first("Sec-WebSocket-Protocol") == "chat, superchat")
        #expect(head.headers.first("cookie") == "a=1; b=2")
        #expect(head.headers.hasListElement("websocket", in: "Upgrade"))
        #expect(head.headers.hasListElement("upgrade", in: "Connection"))
        // The one classifier takes it as an HTTP/1.1 client's handshake.
        #expect(WebSocketHandshake.classify(head, framing: .none) == .webSocket)
    }

    @Test func aMissingVersionIs13() {
        let sent = HTTP2RequestHead(
            method: "CONNECT", scheme: "http", authority: "a", path: "/", protocol: "websocket")
        guard case .webSocket(let head) = WebSocketHandshake.handshake(fromExtendedConnect: sent, key: "k") else {
            Issue.record("expected a handshake")
            return
        }
        #expect(head.headers.values(for: "Sec-WebSocket-Version") == ["13"])
    }

    @Test func anotherProtocolIs501AndAMalformedOneIs400() {
        #expect(
            WebSocketHandshake.handshake(fromExtendedConnect: Self.extendedConnect(protocol: "connect-udp"), key: "k")
                .status == 501)
        #expect(WebSocketHandshake.handshake(fromExtendedConnect: Self.extendedConnect(path: nil), key: "k").status == 400)
        #expect(
            WebSocketHandshake.handshake(fromExtendedConnect: Self.extendedConnect(path: "chat"), key: "k").status == 400)
        var noAuthority = Self.extendedConnect()
        noAuthority.authority = nil
        #expect(WebSocketHandshake.handshake(fromExtendedConnect: noAuthority, key: "k").status == 400)
        #expect(
            WebSocketHandshake.handshake(fromExtendedConnect: Self.extendedConnect(protocol: "WebSocket"), key: "k")
                .status == nil, "protocol tokens are case-insensitive")
    }

    @Test func theRoutePlansItAsAHandshakeOnTheRoutesHTTPVersion() throws {
        var route = RouteSettings(
            name: "api", host: HostPattern(name: .exact("api.example")), connection: "api",
            upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089))
        route.http2 = .always
        let runtime = try makeRuntime(
            routes: [route],
            connections: [ConnectionSettings(name: "api", kind: .bearer(token: SecretString("t0ken")))])
        guard case .webSocket(let head) = WebSocketHandshake.handshake(fromExtendedConnect: Self.extendedConnect(), key: "k"),
            case .forward(let plan) = RequestRewrite.plan(head, runtime: runtime, framing: .none)
        else {
            Issue.record("the handshake must be forwarded")
            return
        }
        #expect(plan.upgradesToWebSocket)
        #expect(plan.http2 == .always, "an h2 upstream offering extended CONNECT may carry it")
        let upstream = RequestRewrite.upstreamHead(
            plan: plan, credential: nil, framing: .none, receivedVersion: .http1_1)
        #expect(upstream.headers.first("Authorization") == nil, "the client's credential is stripped")
        #expect(upstream.headers.hasListElement("websocket", in: "Upgrade"))
    }

    @Test func the101BecomesA200ForTheH2Client() {
        let switched = HTTPResponseHead(
            status: 101, reason: "Switching Protocols",
            headers: HTTPHeaders([
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "abc"),
                ("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Extensions", "permessage-deflate"),
                ("Via", "1.1 latchkey"),
            ]))
        let head = WebSocketHandshake.http2ClientHead(switched)
        #expect(head.status == 200 && head.version == .http2)
        #expect(!head.headers.contains("Upgrade") && !head.headers.contains("Connection"))
        #expect(!head.headers.contains("Sec-WebSocket-Accept"), "RFC 8441 §5")
        #expect(head.headers.first("Sec-WebSocket-Protocol") == "chat")
        #expect(head.headers.first("Sec-WebSocket-Extensions") == "permessage-deflate")
    }

    @Test func theHandshakeBecomesAnExtendedConnectForAnH2Upstream() {
        let handshake = HTTPRequestHead(
            method: "GET", target: "/socket",
            headers: HTTPHeaders([
                ("Host", "api.example"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", Self.sampleKey), ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Protocol", "chat"), ("Authorization", "Bearer injected"),
            ]))
        #expect(WebSocketHandshake.isHandshake(handshake))
        let (head, key) = WebSocketHandshake.extendedConnect(handshake, scheme: "https", authority: "api.example:8443")
        #expect(key == Self.sampleKey)
        #expect(head.method == "CONNECT" && head.protocol == "websocket")
        #expect(head.scheme == "https" && head.authority == "api.example:8443" && head.path == "/socket")
        for gone in ["Sec-WebSocket-Key", "Upgrade", "Connection", "Host"] {
            #expect(!head.headers.contains(gone), "\(gone) does not go over HTTP/2")
        }
        #expect(head.headers.first("authorization") == "Bearer injected")
        #expect(head.headers.first("sec-websocket-version") == "13")
    }

    @Test func theH2Upstreams200BecomesThe101WithTheAcceptForTheKey() {
        let ok = HTTPResponseHead(
            version: .http2, status: 200, headers: HTTPHeaders([("sec-websocket-protocol", "chat")]))
        let switched = WebSocketHandshake.switchedHead(ok, key: Self.sampleKey)
        #expect(switched.status == 101 && switched.version == .http1_1)
        #expect(switched.headers.first("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(switched.headers.first("sec-websocket-protocol") == "chat")
        #expect(WebSocketHandshake.acceptsSwitch(switched, expectedAccept: WebSocketHandshake.accept(for: Self.sampleKey)))
        #expect(!WebSocketHandshake.acceptsSwitch(switched, expectedAccept: "another"))
        #expect(WebSocketHandshake.acceptsSwitch(switched), "an HTTP/1.1 client checks the accept itself")
    }

    @Test func anAcceptTheH2UpstreamSentIsReplacedNotDoubled() {
        let ok = HTTPResponseHead(version: .http2, status: 200, headers: HTTPHeaders([("sec-websocket-accept", "bogus=")]))
        let switched = WebSocketHandshake.switchedHead(ok, key: Self.sampleKey)
        #expect(switched.headers.values(for: "Sec-WebSocket-Accept") == ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
    }
}

extension WebSocketHandshake.ExtendedConnect {
    /// The refusal's status; nil for a handshake.
    var status: Int? {
        if case .refused(let status, _) = self { status } else { nil }
    }
}
