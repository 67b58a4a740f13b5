import Foundation
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Testing

@testable import LatchkeyProxy

/// Retries as decisions of the exchange machine: status, connect failure, Retry-After, budget, body replay.
@Suite struct ExchangeStateMachineRetryTests {
    typealias Harness = ExchangeStateMachineHarness

    @Test func aHappyExchangeSendsTheRequestAndFinishesWithTheConnectionReusable() {
        var h = Harness()
        #expect(h.step(.start).name == "lookUpCredential")
        #expect(h.step(.credentialReady(Harness.token)).name == "connect")
        #expect(h.machine.wakeup == h.start + .milliseconds(1_000))
        guard case .sendRequest(let body, let end, _) = h.step(.upstreamReady) else {
            Issue.record("expected the request")
            return
        }
        #expect(body.isEmpty && end)
        #expect(h.answer(200).responseStatus == 200)
        #expect(h.machine.wakeup == nil)
        #expect(h.step(.responseBody([1, 2, 3], clientBacklog: 0)).name == "forwardBody")
        guard case .finishResponse(let reuse, let closeClient, _) = h.step(.responseEnd()) else {
            Issue.record("expected the end")
            return
        }
        #expect(reuse && !closeClient)
        #expect(h.machine.attemptNumber == 1 && h.machine.responseBytes == 3)
        #expect(h.step(.timer).name == "none")
    }

    @Test func aRetryableStatusWaitsTheDelayThenStartsAnotherAttempt() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 2, delayMs: 200) }
        _ = h.startAndConnect()
        #expect(h.answer(503).name == "waitToRetry")
        #expect(h.machine.wakeup == h.start + .milliseconds(200))
        h.advance(.milliseconds(150))
        #expect(h.step(.timer).name == "none")  // early: nothing is due yet
        h.advance(.milliseconds(50))
        #expect(h.step(.timer).name == "lookUpCredential")
        #expect(h.machine.attemptNumber == 2)
        #expect(h.step(.credentialReady(Harness.token)).name == "connect")
        #expect(h.step(.upstreamReady).name == "sendRequest")
        #expect(h.answer(200).responseStatus == 200)
        // A response passed on needs no story: only the retried attempt is in the history.
        #expect(h.machine.history == ["attempt 1: 503 from http://127.0.0.1:8089"])
    }

    @Test func aStatusOutsideTheRetryClassIsPassedOn() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 2) }
        _ = h.startAndConnect()
        #expect(h.answer(404).responseStatus == 404)
        var all = Harness { $0.retry = RetrySettings(maxRetries: 2, retryOnAllErrors: true) }
        _ = all.startAndConnect()
        #expect(all.answer(404).name == "waitToRetry")
    }

    @Test func aConnectFailureIsRetriedEvenWhenTheBodyWasTooBigToKeep() {
        var h = Harness(method: "POST", framing: .contentLength(10)) {
            $0.retry = RetrySettings(maxRetries: 1, delayMs: 100, bodyBufferBytes: 4)
        }
        _ = h.step(.start)
        _ = h.step(.credentialReady(Harness.token))
        let body = [UInt8](repeating: 7, count: 10)
        #expect(h.step(.requestBody(body, upstreamBacklog: 0)).name == "none")  // held: no upstream yet
        #expect(h.step(.requestEnd()).name == "none")
        #expect(!h.machine.body.replayable)
        let refused = UpstreamFailure.network(NetError(.connectFailed, "connection refused"))
        #expect(h.step(.upstreamFailed(refused, stale: false)).name == "waitToRetry")
        h.advance(.milliseconds(100))
        #expect(h.step(.timer).name == "lookUpCredential")
        _ = h.step(.credentialReady(Harness.token))
        #expect(h.step(.upstreamReady).sentBody == [body])
    }

    @Test func aNetworkErrorAfterTheRequestWentOutIsNotRetriedWithoutTheBody() {
        var h = Harness(method: "POST", framing: .contentLength(10)) {
            $0.retry = RetrySettings(maxRetries: 3, delayMs: 100, bodyBufferBytes: 4)
        }
        _ = h.startAndConnect()
        #expect(h.step(.requestBody([UInt8](repeating: 1, count: 10), upstreamBacklog: 0)).name == "sendBody")
        #expect(h.step(.requestEnd()).name == "sendEnd")
        let reset = UpstreamFailure.network(NetError(.reset, "connection reset by peer"))
        let error = h.step(.upstreamFailed(reset, stale: false)).error
        #expect(error?.code == .upstreamClosed)
        #expect(error?.detail == "http://127.0.0.1:8089: connection reset by peer")
    }

    @Test func aPostWhoseBodyWasKeptGoesAgainWhole() {
        // Retries are per route, whatever the method (the route's owner opted in); the body is replayed.
        var h = Harness(method: "POST", framing: .contentLength(3)) { $0.retry = RetrySettings(maxRetries: 1, delayMs: 0) }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        #expect(h.answer(502).name == "waitToRetry")
        #expect(h.step(.timer).name == "lookUpCredential")
        _ = h.step(.credentialReady(Harness.token))
        guard case .sendRequest(let body, let end, _) = h.step(.upstreamReady) else {
            Issue.record("expected the request again")
            return
        }
        #expect(body == [Array("abc".utf8)] && end)
    }

    @Test func aBodyTooBigToReplayEndsRetryingAfterTheHeadWentOut() {
        var h = Harness(method: "POST", framing: .contentLength(3)) {
            $0.retry = RetrySettings(maxRetries: 3, bodyBufferBytes: 2)
        }
        _ = h.startAndConnect()
        _ = h.step(.requestBody(Array("abc".utf8), upstreamBacklog: 0))
        _ = h.step(.requestEnd())
        #expect(h.answer(503).responseStatus == 503)
    }

    @Test func anExhaustedBudgetPassesTheLastStatusOn() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 1, delayMs: 0) }
        _ = h.startAndConnect()
        #expect(h.answer(503).name == "waitToRetry")
        _ = h.step(.timer)
        _ = h.step(.credentialReady(Harness.token))
        _ = h.step(.upstreamReady)
        #expect(h.answer(503).responseStatus == 503)
        #expect(h.machine.attemptNumber == 2 && h.machine.retriesUsed == 1)
    }

    @Test func anExhaustedBudgetAfterNetworkErrorsTellsEveryAttempt() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 1, delayMs: 0) }
        let refused = UpstreamFailure.network(NetError(.connectFailed, "connect to 127.0.0.1:8089 refused"))
        _ = h.step(.start)
        _ = h.step(.credentialReady(Harness.token))
        #expect(h.step(.upstreamFailed(refused, stale: false)).name == "waitToRetry")
        _ = h.step(.timer)
        _ = h.step(.credentialReady(Harness.token))
        let error = h.step(.upstreamFailed(refused, stale: false)).error
        #expect(error?.code == .upstreamConnectFailed)
        #expect(
            error?.detail
                == "attempt 1: connect to 127.0.0.1:8089 refused; attempt 2: connect to 127.0.0.1:8089 refused")
    }

    @Test func retryAfterInSecondsReplacesTheDelay() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 1, delayMs: 100); $0.deadlineMs = 10_000 }
        _ = h.startAndConnect()
        #expect(h.answer(503, [("Retry-After", "2")]).name == "waitToRetry")
        #expect(h.machine.wakeup == h.start + .seconds(2))
    }

    @Test func retryAfterAsAnHTTPDateIsReadOnTheInjectedWallClock() {
        let wall = Date(timeIntervalSince1970: 1_000_000)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = formatter.string(from: wall.addingTimeInterval(3))
        var h = Harness(wallClock: wall) { $0.retry = RetrySettings(maxRetries: 1, delayMs: 100); $0.deadlineMs = 10_000 }
        _ = h.startAndConnect()
        #expect(h.answer(429, [("Retry-After", date)]).name == "startResponse")  // 429 only with retry_on_all_errors
        var all = Harness(wallClock: wall) {
            $0.retry = RetrySettings(maxRetries: 1, delayMs: 100, retryOnAllErrors: true)
            $0.deadlineMs = 10_000
        }
        _ = all.startAndConnect()
        #expect(all.answer(429, [("Retry-After", date)]).name == "waitToRetry")
        #expect(all.machine.wakeup == all.start + .seconds(3))
    }

    @Test func retryAfterPastTheDeadlineEndsRetryingAndPassesTheStatusOn() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 3, delayMs: 100); $0.deadlineMs = 5_000 }
        _ = h.startAndConnect()
        #expect(h.answer(503, [("Retry-After", "3600")]).responseStatus == 503)
    }

    @Test func backoffJitterIsInjected() {
        var h = Harness(jitter: 0.5) { $0.retry = RetrySettings(maxRetries: 2, exponentialBackoff: true) }
        _ = h.startAndConnect()
        #expect(h.answer(503).name == "waitToRetry")
        #expect(h.machine.wakeup == h.start + .milliseconds(50))  // half of the first bound, 100 ms
    }
}
