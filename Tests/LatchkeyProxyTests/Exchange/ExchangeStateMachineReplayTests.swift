import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Testing

@testable import LatchkeyProxy

/// The 401 replay with a renewed credential (RFC 6750 §3.1) and the stale pooled-connection retry.
@Suite struct ExchangeStateMachineReplayTests {
    typealias Harness = ExchangeStateMachineHarness

    @Test func a401WithARenewableCredentialIsReplayedOnceWithAFreshLookup() {
        var h = Harness(renewing: true)
        _ = h.startAndConnect()
        #expect(h.answer(401).name == "lookUpCredential")
        #expect(h.machine.takeRejectedCredential() == Harness.token)
        #expect(h.machine.takeRejectedCredential() == nil)  // handed over once
        #expect(h.machine.attemptNumber == 2)
        #expect(h.step(.credentialReady(Harness.token)).name == "connect")
        #expect(h.step(.upstreamReady).name == "sendRequest")
        // Rejected again: the token is dropped again, but the request is not replayed twice.
        #expect(h.answer(401).responseStatus == 401)
        #expect(h.machine.takeRejectedCredential() == Harness.token)
    }

    @Test func a401IsNotReplayedWhenTheBodyWasNotKept() {
        var h = Harness(method: "POST", framing: .contentLength(3), renewing: true) {
            $0.retry = RetrySettings(bodyBufferBytes: 2)
        }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        #expect(h.answer(401).responseStatus == 401)
        #expect(h.machine.takeRejectedCredential() == Harness.token)  // still dropped for the next request
    }

    @Test func a401IsNotReplayedBeforeTheWholeBodyArrived() {
        var h = Harness(method: "POST", framing: .contentLength(6), renewing: true)
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        #expect(h.answer(401).responseStatus == 401)
    }

    @Test func a401FromAStaticCredentialIsPassedOn() {
        var h = Harness()
        _ = h.startAndConnect()
        #expect(h.answer(401).responseStatus == 401)
        #expect(h.machine.takeRejectedCredential() == nil)
    }

    @Test func aStalePooledConnectionGoesAgainOnceWithoutCountingAsARetry() {
        var h = Harness(method: "PUT", framing: .contentLength(3))
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        #expect(h.step(.upstreamFailed(.closed, stale: true)).name == "lookUpCredential")
        #expect(h.machine.attemptNumber == 1 && h.machine.retriesUsed == 0)
        _ = h.step(.credentialReady(Harness.token))
        #expect(h.step(.upstreamReady).sentBody == [Array("abc".utf8)])
        // A second stale connection is an ordinary failure (no retries configured here).
        let error = h.step(.upstreamFailed(.closed, stale: true)).error
        #expect(error?.code == .upstreamClosed)
        #expect(error?.detail == "http://127.0.0.1:8089 closed the connection before a complete response")
    }

    @Test func aStaleConnectionIsNotRetriedWhenTheBodyWasNotKept() {
        var h = Harness(method: "PUT", framing: .contentLength(3)) { $0.retry = RetrySettings(bodyBufferBytes: 1) }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        #expect(h.step(.upstreamFailed(.closed, stale: true)).error?.code == .upstreamClosed)
    }

    @Test func aRefusedDestinationIsNeverRetried() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 3) }
        _ = h.step(.start)
        _ = h.step(.credentialReady(Harness.token))
        let refused = UpstreamFailure.network(NetError(.destinationRefused, "127.0.0.1 is refused"))
        #expect(h.step(.upstreamFailed(refused, stale: false)).error?.code == .destinationRefused)
    }

    @Test func anUnsolicited101IsAProtocolError() {
        var h = Harness()
        _ = h.startAndConnect()
        #expect(h.answer(101).error?.code == .upstreamProtocolError)
    }
}
