import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// The head timeout, the overall deadline and the credential wait, on the manual clock.
@Suite struct ExchangeStateMachineDeadlineTests {
    typealias Harness = ExchangeStateMachineHarness

    @Test func noResponseHeadWithinTheTimeoutIsA504() {
        var h = Harness()
        _ = h.startAndConnect()
        #expect(h.machine.wakeup == h.start + .milliseconds(1_000))
        h.advance(.milliseconds(999))
        #expect(h.step(.timer).name == "none")
        h.advance(.milliseconds(1))
        let error = h.step(.timer).error
        #expect(error?.code == .upstreamTimeout)
        #expect(error?.detail == "no response from http://127.0.0.1:8089 within 1000 ms")
        #expect(h.machine.wakeup == nil)
    }

    @Test func aHeadTimeoutIsRetriedWhenTheRouteAllows() {
        var h = Harness { $0.retry = RetrySettings(maxRetries: 1, delayMs: 100) }
        _ = h.startAndConnect()
        h.advance(.milliseconds(1_000))
        #expect(h.step(.timer).name == "waitToRetry")
        #expect(h.machine.wakeup == h.start + .milliseconds(1_100))
        h.advance(.milliseconds(100))
        #expect(h.step(.timer).name == "lookUpCredential")
        _ = h.step(.credentialReady(Harness.token))
        #expect(h.machine.wakeup == h.now + .milliseconds(1_000))  // a fresh head timeout for the new attempt
    }

    @Test func theOverallDeadlineEndsAnAttemptAfterARetryWait() {
        var h = Harness {
            $0.retry = RetrySettings(maxRetries: 3, delayMs: 300)
            $0.deadlineMs = 1_500
        }
        _ = h.startAndConnect()
        h.advance(.milliseconds(900))
        #expect(h.answer(503).name == "waitToRetry")  // 900 + 300 < 1500
        #expect(h.machine.wakeup == h.start + .milliseconds(1_200))
        h.advance(.milliseconds(300))
        _ = h.step(.timer)
        _ = h.step(.credentialReady(Harness.token))
        _ = h.step(.upstreamReady)
        #expect(h.machine.wakeup == h.start + .milliseconds(1_500))  // the deadline comes before the head timeout
        h.advance(.milliseconds(300))
        let error = h.step(.timer).error
        #expect(error?.code == .deadlineExceeded)
        #expect(
            error?.detail
                == "deadline of 1500 ms passed after 2 attempt(s); attempt 1: 503 from http://127.0.0.1:8089; attempt 2: no response from http://127.0.0.1:8089 before the deadline"
        )
    }

    @Test func aRetryThatWouldWaitPastTheDeadlineIsNotScheduled() {
        var h = Harness {
            $0.retry = RetrySettings(maxRetries: 3, delayMs: 700)
            $0.deadlineMs = 1_500
        }
        _ = h.startAndConnect()
        h.advance(.milliseconds(900))
        #expect(h.answer(503).responseStatus == 503)
    }

    @Test func theDeadlineWhileWaitingForACredentialAnswersTheClient() {
        var h = Harness { $0.deadlineMs = 400 }
        guard case .lookUpCredential(let timeout) = h.step(.start) else {
            Issue.record("expected a lookup")
            return
        }
        #expect(timeout == .milliseconds(400))  // never past the deadline
        #expect(h.machine.wakeup == h.start + .milliseconds(400))
        h.advance(.milliseconds(400))
        let error = h.step(.timer).error
        #expect(error?.code == .deadlineExceeded)
        #expect(h.step(.credentialReady(Harness.token)).name == "none")  // too late: ignored
    }

    @Test func aCredentialFailureAnswersWithItsCode() {
        var h = Harness()
        _ = h.step(.start)
        let failure = CredentialError(.timeout, connection: "api", detail: "no token within 100 ms")
        let error = h.step(.credentialFailed(failure)).error
        #expect(error?.code == .credentialTimeout)
        #expect(error?.detail == "no token within 100 ms")
    }

    @Test func theClientLeavingCancelsEverything() {
        var h = Harness()
        _ = h.startAndConnect()
        #expect(h.step(.clientClosed).name == "cancelled")
        #expect(h.machine.wakeup == nil)
        #expect(h.answer(200).name == "none")
    }
}
