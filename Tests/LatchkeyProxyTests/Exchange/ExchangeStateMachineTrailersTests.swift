import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// Trailers through the exchange (RFC 9110 §6.5): request trailers go with the end of the body on every
/// attempt, response trailers reach the client with the end of the response.
@Suite struct ExchangeStateMachineTrailersTests {
    typealias Harness = ExchangeStateMachineHarness
    static let trailers: HTTPHeaders = ["X-Checksum": "abc1"]

    @Test func requestTrailersGoWithTheEndOfTheBody() {
        var h = Harness(method: "POST", framing: .chunked)
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        guard case .sendEnd(let sent) = h.step(.requestEnd(trailers: Self.trailers)) else {
            Issue.record("expected sendEnd")
            return
        }
        #expect(sent == Self.trailers)
    }

    @Test func requestTrailersCompleteBeforeTheHeadGoWithTheRequest() {
        var h = Harness(method: "POST", framing: .chunked)
        _ = h.step(.start)
        _ = h.step(.credentialReady(Harness.token))
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd(trailers: Self.trailers))
        guard case .sendRequest(let body, let end, let sent) = h.step(.upstreamReady) else {
            Issue.record("expected sendRequest")
            return
        }
        #expect(body == [Array("abc".utf8)] && end && sent == Self.trailers)
    }

    @Test func requestTrailersAreReplayedOnARetry() {
        var h = Harness(method: "POST", framing: .chunked) { $0.retry = RetrySettings(maxRetries: 1, delayMs: 0) }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd(trailers: Self.trailers))
        #expect(h.answer(503).name == "waitToRetry")
        _ = h.step(.timer)
        _ = h.step(.credentialReady(Harness.token))
        guard case .sendRequest(let body, let end, let sent) = h.step(.upstreamReady) else {
            Issue.record("expected the request again")
            return
        }
        #expect(body == [Array("abc".utf8)] && end && sent == Self.trailers)
    }

    @Test func aStaleConnectionRetrySendsTheTrailersAgain() {
        var h = Harness(method: "PUT", framing: .chunked)
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd(trailers: Self.trailers))
        _ = h.step(.upstreamFailed(.closed, stale: true))
        _ = h.step(.credentialReady(Harness.token))
        guard case .sendRequest(_, _, let sent) = h.step(.upstreamReady) else {
            Issue.record("expected the request again")
            return
        }
        #expect(sent == Self.trailers)
    }

    @Test func responseTrailersFinishTheResponse() {
        var h = Harness()
        _ = h.startAndConnect()
        _ = h.step(.responseHead(HTTPResponseHead(status: 200), .chunked))
        guard case .finishResponse(_, _, let sent) = h.step(.responseEnd(trailers: Self.trailers)) else {
            Issue.record("expected finishResponse")
            return
        }
        #expect(sent == Self.trailers)
    }

    @Test func upstreamTrailersLoseCredentialsFramingAndHopByHopFields() {
        let received: HTTPHeaders = HTTPHeaders([
            ("X-Checksum", "abc1"), ("Authorization", "Bearer client"), ("proxy-authorization", "Basic x"),
            ("X-Api-Key", "stolen"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked"), ("Host", "evil"),
            ("TE", "trailers"), ("Trailer", "X"), ("Connection", "X-Hop"), ("X-Hop", "1"), ("Grpc-Status", "0"),
        ])
        let kept = RequestRewrite.upstreamTrailers(received, credentialHeader: "X-Api-Key")
        #expect(kept == HTTPHeaders([("X-Checksum", "abc1"), ("Grpc-Status", "0")]))
        #expect(ResponseRewrite.clientTrailers(received).fields.map(\.name) == ["X-Checksum", "X-Api-Key", "Grpc-Status"])
    }
}
