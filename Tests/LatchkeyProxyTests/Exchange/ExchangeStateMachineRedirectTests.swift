import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// Redirect following (RFC 9110 §15.4): same origin keeps the credential, elsewhere drops it, the limit, and
/// 303 → GET without body.
@Suite struct ExchangeStateMachineRedirectTests {
    typealias Harness = ExchangeStateMachineHarness

    @Test func aRelativeLocationStaysWithTheRouteAndItsCredential() {
        var h = Harness { $0.maxRedirects = 3 }
        _ = h.startAndConnect()
        #expect(h.answer(302, [("Location", "/v2/items?page=2")]).name == "lookUpCredential")
        #expect(h.machine.injectsCredential)
        #expect(h.machine.plan.routeName == "api")
        #expect(h.machine.plan.head.target == "/v2/items?page=2")
        #expect(h.machine.redirectsFollowed == 1)
        _ = h.step(.credentialReady(Harness.token))
        _ = h.step(.upstreamReady)
        #expect(h.answer(200).responseStatus == 200)
    }

    @Test func anotherOriginGetsNoCredential() {
        var h = Harness { $0.maxRedirects = 3 }
        _ = h.startAndConnect()
        // No route names this host: passthrough, without any credential, so no lookup.
        #expect(h.answer(301, [("Location", "http://elsewhere.example/x")]).name == "connect")
        #expect(!h.machine.injectsCredential)
        #expect(h.machine.plan.route == nil)
        #expect(!h.machine.plan.head.headers.contains("Authorization"))
    }

    @Test func aRouteOfAnotherConnectionGetsNoCredential() {
        var h = Harness { $0.maxRedirects = 3 }
        _ = h.startAndConnect()
        #expect(h.answer(307, [("Location", "http://other.example/y")]).name == "connect")
        #expect(h.machine.plan.routeName == "other")
        #expect(!h.machine.injectsCredential)
    }

    @Test func aRedirectToLoopbackWithoutARouteIsNotFollowed() {
        var h = Harness { $0.maxRedirects = 3 }
        _ = h.startAndConnect()
        #expect(h.answer(302, [("Location", "http://169.254.169.254/latest")]).responseStatus == 302)
    }

    @Test func theLimitEndsWithTooManyRedirects() {
        var h = Harness { $0.maxRedirects = 1 }
        _ = h.startAndConnect()
        #expect(h.answer(302, [("Location", "/a")]).name == "lookUpCredential")
        _ = h.step(.credentialReady(Harness.token))
        _ = h.step(.upstreamReady)
        let error = h.answer(302, [("Location", "/b")]).error
        #expect(error?.code == .tooManyRedirects)
        #expect(error?.detail.hasPrefix("stopped after 1 redirects (max_redirects 1); attempt 1: 302 from") == true)
    }

    @Test func a303TurnsAPostIntoAGetWithoutBody() {
        var h = Harness(method: "POST", framing: .contentLength(3)) { $0.maxRedirects = 2 }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        #expect(h.answer(303, [("Location", "/done")]).name == "lookUpCredential")
        #expect(h.machine.plan.head.method == "GET")
        #expect(h.machine.requestFraming == .none)
        #expect(!h.machine.plan.head.headers.contains("Content-Length"))
        _ = h.step(.credentialReady(Harness.token))
        guard case .sendRequest(let body, let end, _) = h.step(.upstreamReady) else {
            Issue.record("expected the GET")
            return
        }
        #expect(body.isEmpty && end)
    }

    @Test func a307WhoseBodyWasNotKeptIsPassedOn() {
        var h = Harness(method: "POST", framing: .contentLength(3)) {
            $0.maxRedirects = 2
            $0.retry.bodyBufferBytes = 1
        }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        #expect(h.answer(307, [("Location", "/again")]).responseStatus == 307)
    }

    @Test func aRedirectWithoutFollowingIsPassedOn() {
        var h = Harness()
        _ = h.startAndConnect()
        #expect(h.answer(302, [("Location", "/a")]).responseStatus == 302)
    }
}
