import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// The HTTP/2 upstream's decisions that need no socket: which protocol a request gets, how a response's
/// body is framed for the client, and how the machine treats streams the server refused.
@Suite struct HTTP2UpstreamTests {
    typealias Harness = ExchangeStateMachineHarness

    @Test func whichProtocolARequestGets() {
        // http://: never and auto are HTTP/1.1, always is h2c with prior knowledge.
        #expect(UpstreamPool.usesHTTP2(mode: .never, isTLS: false, learned: nil) == false)
        #expect(UpstreamPool.usesHTTP2(mode: .auto, isTLS: false, learned: nil) == false)
        #expect(UpstreamPool.usesHTTP2(mode: .always, isTLS: false, learned: nil) == true)
        // https://: never stays HTTP/1.1 whatever was learned; auto and always follow the server's ALPN choice,
        // unknown (nil: the handshake decides) until a first connection learned it.
        #expect(UpstreamPool.usesHTTP2(mode: .never, isTLS: true, learned: true) == false)
        for mode in [HTTP2Mode.auto, .always] {
            #expect(UpstreamPool.usesHTTP2(mode: mode, isTLS: true, learned: nil) == nil)
            #expect(UpstreamPool.usesHTTP2(mode: mode, isTLS: true, learned: true) == true)
            #expect(UpstreamPool.usesHTTP2(mode: mode, isTLS: true, learned: false) == false)
        }
    }

    @Test func responseBodyFraming() {
        func framing(_ fields: [(String, String)]) -> HTTPBodyFraming {
            HTTP2UpstreamStream.framing(of: HTTPResponseHead(version: .http2, status: 200, headers: HTTPHeaders(fields)))
        }
        #expect(framing([("content-length", "12")]) == .contentLength(12))
        #expect(framing([]) == .chunked)  // delimited by END_STREAM: re-chunked for an HTTP/1.1 client
        #expect(framing([("content-length", "1x")]) == .chunked)
        #expect(framing([("content-length", "99999999999999999999")]) == .chunked)
    }

    @Test func aRefusedStreamGoesAgainEvenForAPostWithoutCountingAsARetry() {
        var h = Harness(method: "POST", framing: .contentLength(3))
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        let refused = UpstreamFailure.http2(HTTP2Error(.refusedStream, "above the GOAWAY's last-stream-id"))
        for round in 1...ExchangeStateMachine.maxRefusedStreamRetries {
            #expect(h.step(.upstreamFailed(refused, stale: true)).name == "lookUpCredential", "round \(round)")
            _ = h.step(.credentialReady(Harness.token))
            #expect(h.step(.upstreamReady).sentBody == [Array("abc".utf8)])
        }
        #expect(h.machine.attemptNumber == 1 && h.machine.retriesUsed == 0)
        // Beyond the allowance the ordinary stale-connection retry is left, once; then the client hears of it.
        #expect(h.step(.upstreamFailed(refused, stale: true)).name == "lookUpCredential")
        _ = h.step(.credentialReady(Harness.token))
        _ = h.step(.upstreamReady)
        let error = h.step(.upstreamFailed(refused, stale: true)).error
        #expect(error?.code == .upstreamProtocolError)
        #expect(error?.detail.contains("REFUSED_STREAM") == true)
    }

    @Test func anotherStreamErrorIsA502NamingTheCode() {
        var h = Harness(method: "POST", framing: .contentLength(3)) { $0.retry = RetrySettings(maxRetries: 0) }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        let reset = UpstreamFailure.http2(HTTP2Error(.internalError, "the stream was reset"))
        let error = h.step(.upstreamFailed(reset, stale: false)).error
        #expect(error?.status == 502)
        #expect(error?.code == .upstreamProtocolError)
        #expect(error?.detail == "HTTP/2 with http://127.0.0.1:8089: INTERNAL_ERROR: the stream was reset")
    }

    @Test func aPlanCarriesTheRoutesHTTP2ChoiceExceptForAnUpgrade() throws {
        var route = RouteSettings(
            name: "api", host: HostPattern(name: .exact("api.example")),
            upstream: UpstreamURL(scheme: "https", host: "api.example", port: 443))
        route.http2 = .always
        let runtime = try makeRuntime(routes: [route], connections: [])
        let routeRuntime = try #require(runtime.routes["api"])
        #expect(routeRuntime.tls.configuration.alpnProtocols == ["h2", "http/1.1"])
        #expect(routeRuntime.http1TLS.configuration.alpnProtocols == ["http/1.1"])

        let plain = HTTPRequestHead(method: "GET", target: "http://api.example/x", headers: ["Host": "api.example"])
        let plan = try #require(forwardPlan(RequestPlanner.plan(plain, runtime: runtime)))
        #expect(plan.http2 == .always && plan.tls === routeRuntime.tls)

        // HTTP/2 has no Upgrade (RFC 9113 §8.6): the handshake goes over HTTP/1.1, on a context offering only it.
        let upgrade = HTTPRequestHead(
            method: "GET", target: "http://api.example/ws",
            headers: ["Host": "api.example", "Connection": "Upgrade", "Upgrade": "websocket"])
        let upgradePlan = try #require(forwardPlan(RequestPlanner.plan(upgrade, runtime: runtime)))
        #expect(upgradePlan.http2 == .never && upgradePlan.tls === routeRuntime.http1TLS)
    }

    @Test func anHTTP2NeverRouteSharesOneHTTP1Context() throws {
        var route = RouteSettings(
            name: "api", host: HostPattern(name: .exact("api.example")),
            upstream: UpstreamURL(scheme: "https", host: "api.example", port: 443))
        route.http2 = .never
        let runtime = try makeRuntime(routes: [route], connections: [])
        let routeRuntime = try #require(runtime.routes["api"])
        #expect(routeRuntime.tls === routeRuntime.http1TLS)
        #expect(routeRuntime.tls.configuration.alpnProtocols == ["http/1.1"])
    }
}
