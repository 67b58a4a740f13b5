import LatchkeyHTTP
import LatchkeyNet
import Testing

@testable import LatchkeyProxy

/// Back-pressure as standing wishes: stop reading a side while the other side's buffer is above the mark.
@Suite struct ExchangeStateMachineBackPressureTests {
    typealias Harness = ExchangeStateMachineHarness
    static let mark = ExchangeStateMachine.highWaterMark

    @Test func bodyHeldBeforeTheUpstreamIsReadyPausesTheClientAtTheMark() {
        var h = Harness(method: "POST", framing: .chunked)
        _ = h.step(.start)
        _ = h.step(.credentialReady(Harness.token))
        let chunk = [UInt8](repeating: 1, count: 64 * 1024)
        for _ in 0..<4 { #expect(h.step(.requestBody(chunk, upstreamBacklog: 0)).name == "none") }
        #expect(!h.machine.clientReadingPaused)  // exactly at the mark
        _ = h.step(.requestBody(chunk, upstreamBacklog: 0))
        #expect(h.machine.clientReadingPaused)
        guard case .sendRequest(let body, let end, _) = h.step(.upstreamReady) else {
            Issue.record("expected the request")
            return
        }
        #expect(body.count == 5 && !end)
        #expect(!h.machine.clientReadingPaused)  // handed to the upstream: its drain decides from now on
    }

    @Test func aFullUpstreamPausesTheClientUntilItDrains() {
        var h = Harness(method: "POST", framing: .chunked)
        _ = h.startAndConnect()
        #expect(h.step(.requestBody([1], upstreamBacklog: Self.mark)).name == "sendBody")
        #expect(h.machine.clientReadingPaused)
        _ = h.step(.upstreamDrained)
        #expect(!h.machine.clientReadingPaused)
    }

    @Test func aFullClientPausesTheUpstreamUntilItDrains() {
        var h = Harness()
        _ = h.startAndConnect()
        _ = h.answer(200)
        #expect(h.step(.responseBody([1, 2], clientBacklog: Self.mark - 2)).name == "forwardBody")
        #expect(!h.machine.upstreamReadingPaused)
        _ = h.step(.responseBody([3], clientBacklog: Self.mark))
        #expect(h.machine.upstreamReadingPaused)
        _ = h.step(.clientDrained)
        #expect(!h.machine.upstreamReadingPaused)
    }

    @Test func interimResponsesCountAgainstTheClientBuffer() {
        var h = Harness()
        _ = h.startAndConnect()
        let interim = HTTPResponseHead(status: 103)
        #expect(h.step(.responseInterim(interim, clientBacklog: 0)).name == "forwardInterim")
        _ = h.step(.responseInterim(interim, clientBacklog: Self.mark + 1))
        #expect(h.machine.upstreamReadingPaused)
    }

    @Test func anAnswerBeforeTheWholeBodyClosesTheClientAndKeepsNoConnection() {
        var h = Harness(method: "POST", framing: .contentLength(10))
        _ = h.startAndConnect()
        _ = h.step(.requestBody([1, 2, 3], upstreamBacklog: 0))
        _ = h.answer(413)
        guard case .finishResponse(let reuse, let closeClient, _) = h.step(.responseEnd()) else {
            Issue.record("expected the end")
            return
        }
        #expect(!reuse && closeClient)
    }

    @Test func aFailureAfterTheResponseStartedCutsItOff() {
        var h = Harness { $0.retry.maxRetries = 3 }
        _ = h.startAndConnect()
        _ = h.answer(200)
        let reset = UpstreamFailure.network(NetError(.reset, "reset"))
        #expect(h.step(.upstreamFailed(reset, stale: false)).name == "abortResponse")
    }
}
