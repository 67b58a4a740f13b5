import LatchkeyNet
import Testing

/// The listener's accept decisions, one event at a time.
@Suite struct AcceptGateTests {
    @Test func pausesAtTheCapAndResumesWhenOneCloses() {
        var gate = AcceptGate(maxConnections: 2)
        #expect(gate.isOpen)
        gate.accepted()
        gate.accepted()
        #expect(!gate.isOpen)
        #expect(gate.pauseReason == .connectionCap)
        let reported = gate.shouldReportPause()
        #expect(reported)
        let again = gate.shouldReportPause()
        #expect(!again)  // once per episode
        gate.closed()
        #expect(gate.isOpen)
        #expect(gate.pauseReason == nil)
    }

    @Test func outOfDescriptorsPausesUntilRetryOrClose() {
        var gate = AcceptGate(maxConnections: 100)
        gate.accepted()
        gate.exhausted()
        #expect(!gate.isOpen)
        #expect(gate.pauseReason == .outOfDescriptors)
        let reported = gate.shouldReportPause()
        #expect(reported)
        gate.retry()
        #expect(gate.isOpen)
        gate.exhausted()  // still out: the same episode, not reported again
        let again = gate.shouldReportPause()
        #expect(!again)
        gate.closed()
        #expect(gate.isOpen)
        gate.accepted()  // a successful accept ends the episode
        gate.exhausted()
        let reportedAgain = gate.shouldReportPause()
        #expect(reportedAgain)
    }

    @Test func aLowerCapWaitsForConnectionsToDropBelowIt() {
        var gate = AcceptGate(maxConnections: 10)
        for _ in 0..<5 { gate.accepted() }
        gate.setMaxConnections(3)
        #expect(!gate.isOpen)
        gate.closed()
        gate.closed()
        #expect(!gate.isOpen)
        gate.closed()
        #expect(gate.isOpen)
    }

    @Test func capIsAtLeastOne() {
        #expect(AcceptGate(maxConnections: 0).maxConnections == 1)
    }
}
