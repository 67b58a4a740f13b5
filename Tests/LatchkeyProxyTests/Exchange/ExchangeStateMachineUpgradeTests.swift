import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// WebSocket handshakes as decisions of the exchange machine (issue 13): a 101 is final and turns the exchange
/// into a tunnel that ends with `.tunnelClosed`; any other answer is an ordinary response; retries before a
/// response work as for any GET; redirects are not followed.
@Suite struct ExchangeStateMachineUpgradeTests {
    typealias Harness = ExchangeStateMachineHarness

    static let handshake: [(String, String)] = [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    static let accepted = HTTPResponseHead(
        status: 101, reason: "Switching Protocols",
        headers: HTTPHeaders([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "x")]))

    func handshakeHarness(configure: (inout RouteSettings) -> Void = { _ in }) -> Harness {
        Harness(fields: Self.handshake, configure: configure)
    }

    @Test func theHandshakePlanAsksForTheUpgrade() {
        let h = handshakeHarness()
        #expect(h.machine.plan.upgradesToWebSocket)
        #expect(!Harness().machine.plan.upgradesToWebSocket)
    }

    @Test func a101SwitchesToTheTunnelAndIsFinal() {
        var h = handshakeHarness { $0.retry = RetrySettings(maxRetries: 2, delayMs: 200) }
        _ = h.startAndConnect()
        guard case .switchProtocols(let head) = h.step(.responseHead(Self.accepted, .none)) else {
            Issue.record("expected the switch")
            return
        }
        #expect(head.status == 101)
        #expect(h.machine.state == .tunneling)
        #expect(h.machine.responseStatus == 101)
        #expect(h.machine.wakeup == nil, "no head timeout or deadline runs over a tunnel")
        #expect(!h.machine.wishes.clientReadingPaused && !h.machine.wishes.upstreamReadingPaused)
        #expect(!h.machine.wishes.finished)
        // Nothing of the HTTP exchange applies any more: a late timer, an upstream failure, response events.
        h.advance(.seconds(60))
        #expect(h.step(.timer).name == "none")
        #expect(h.step(.responseBody([1], clientBacklog: 0)).name == "none")
        #expect(h.step(.upstreamFailed(.closed, stale: false)).name == "none")
        #expect(h.machine.state == .tunneling)
    }

    @Test func theTunnelsCloseFinishesTheExchangeWithItsBytes() {
        var h = handshakeHarness()
        _ = h.startAndConnect()
        _ = h.step(.responseHead(Self.accepted, .none))
        guard case .finishTunnel(let reason) = h.step(.tunnelClosed(bytesFromClient: 7, bytesToClient: 11, reason: "idle_timeout"))
        else {
            Issue.record("expected the tunnel's end")
            return
        }
        #expect(reason == "idle_timeout")
        #expect(h.machine.requestBytes == 7 && h.machine.responseBytes == 11)
        #expect(h.machine.wishes.finished)
        #expect(h.step(.tunnelClosed(bytesFromClient: 1, bytesToClient: 1, reason: "closed")).name == "none")
    }

    @Test func theClientClosingIsReportedByTheTunnelNotAsACancel() {
        var h = handshakeHarness()
        _ = h.startAndConnect()
        _ = h.step(.responseHead(Self.accepted, .none))
        #expect(h.step(.clientClosed).name == "none")
        #expect(h.machine.state == .tunneling)
        #expect(h.step(.tunnelClosed(bytesFromClient: 0, bytesToClient: 0, reason: "client_closed")).name == "finishTunnel")
    }

    @Test func a101WithoutUpgradeWebsocketIsA502() {
        var h = handshakeHarness()
        _ = h.startAndConnect()
        let other = HTTPResponseHead(status: 101, headers: HTTPHeaders([("Upgrade", "h2c"), ("Connection", "Upgrade")]))
        let error = h.step(.responseHead(other, .none)).error
        #expect(error?.code == .upstreamProtocolError && error?.status == 502)
        #expect(h.machine.state == .finished)
    }

    @Test func a101ToARequestThatAskedForNoUpgradeIsStillA502() {
        var h = Harness()
        _ = h.startAndConnect()
        #expect(h.step(.responseHead(Self.accepted, .none)).error?.code == .upstreamProtocolError)
    }

    @Test func a401IsAnOrdinaryResponse() {
        var h = handshakeHarness()
        _ = h.startAndConnect()
        #expect(h.answer(401).responseStatus == 401)
        // An ordinary response under way: its body and end follow as for any request, and the client
        // connection goes on as HTTP/1.1 afterwards.
        #expect(h.machine.state == .responding)
        #expect(h.step(.responseBody([1, 2], clientBacklog: 0)).name == "forwardBody")
    }

    @Test func aRedirectIsNotFollowed() {
        var h = handshakeHarness { $0.maxRedirects = 3 }
        _ = h.startAndConnect()
        #expect(h.answer(302, [("Location", "/v2/socket")]).responseStatus == 302)
        #expect(h.machine.redirectsFollowed == 0)
    }

    @Test func aRetryableStatusBeforeThe101IsRetriedLikeAGet() {
        var h = handshakeHarness { $0.retry = RetrySettings(maxRetries: 2, delayMs: 200) }
        _ = h.startAndConnect()
        #expect(h.answer(503).name == "waitToRetry")
        h.advance(.milliseconds(200))
        #expect(h.step(.timer).name == "lookUpCredential")
        _ = h.step(.credentialReady(Harness.token))
        #expect(h.step(.upstreamReady).name == "sendRequest")
        #expect(h.step(.responseHead(Self.accepted, .none)).name == "switchProtocols")
        #expect(h.machine.attemptNumber == 2)
    }

    @Test func aWrongAcceptIsA502WhenTheProxyMadeTheKey() {
        // An RFC 8441 client has no key: the proxy made it, so it checks the accept in the client's place.
        var h = handshakeHarness()
        h.machine.plan.webSocketAccept = "expected="
        _ = h.startAndConnect()
        let error = h.step(.responseHead(Self.accepted, .none)).error
        #expect(error?.code == .upstreamProtocolError && error?.status == 502)
        #expect(error?.detail.contains("Sec-WebSocket-Accept") == true)
        var right = handshakeHarness()
        right.machine.plan.webSocketAccept = "x"
        _ = right.startAndConnect()
        #expect(right.step(.responseHead(Self.accepted, .none)).name == "switchProtocols")
    }

    @Test func anH2UpstreamWithoutExtendedConnectGetsTheHandshakeAgainOverHTTP11() {
        var h = handshakeHarness { $0.http2 = .always }
        #expect(h.machine.plan.http2 == .always)
        _ = h.startAndConnect()
        let refused = UpstreamFailure.http2(HTTP2Error(.http11Required, "no extended CONNECT"))
        #expect(h.step(.upstreamFailed(refused, stale: false)).name == "lookUpCredential")
        #expect(h.machine.plan.http2 == .never)
        #expect(h.machine.attemptNumber == 1, "not counted as a retry")
        _ = h.step(.credentialReady(Harness.token))
        #expect(h.step(.upstreamReady).name == "sendRequest")
        // Once on HTTP/1.1 the same failure is not a reason to go round again.
        #expect(h.step(.upstreamFailed(refused, stale: false)).error?.status == 502)
    }

    /// HTTP_1_1_REQUIRED after the server already refused the handshake (its 403 is with the client): a
    /// second attempt would put a second head after part of the first body. The response is cut off instead.
    @Test func http11RequiredAfterARefusalUnderWayCutsItOff() {
        var h = handshakeHarness { $0.http2 = .always }
        _ = h.startAndConnect()
        #expect(h.answer(403).responseStatus == 403)
        #expect(h.step(.responseBody([1, 2], clientBacklog: 0)).name == "forwardBody")
        let refused = UpstreamFailure.http2(HTTP2Error(.http11Required, "no extended CONNECT"))
        #expect(h.step(.upstreamFailed(refused, stale: false)).name == "abortResponse")
        #expect(h.machine.plan.http2 == .always)
    }
}
