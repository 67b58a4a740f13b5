import Testing

@testable import LatchkeyProxy

/// The byte tunnel's decisions (CONNECT passthrough and WebSockets after their 101), one event at a time on a
/// manual clock: opening, FINs passed on, why it ends, back-pressure, the idle timeout.
@Suite struct TunnelStateMachineTests {
    typealias Machine = TunnelStateMachine
    let start = ExchangeInstant(nanoseconds: 1_000_000_000_000)

    func opened(idle: Duration = .seconds(5)) -> Machine {
        var machine = Machine(idleTimeout: idle, now: start)
        #expect(machine.event(.connected, now: start) == .open)
        return machine
    }

    @Test func itOpensOnceAndArmsTheIdleTimeout() {
        var machine = Machine(idleTimeout: .seconds(5), now: start)
        #expect(machine.wakeup == nil, "no idle timeout while connecting")
        #expect(machine.event(.connected, now: start) == .open)
        #expect(machine.state == .open)
        #expect(machine.wakeup == start + .seconds(5))
        #expect(machine.event(.connected, now: start) == .none)
    }

    @Test func bytesMoveTheIdleDeadlineAndAreCounted() {
        var machine = opened()
        #expect(machine.event(.clientBytes(10, upstreamBacklog: 0), now: start + .seconds(3)) == .none)
        #expect(machine.event(.upstreamBytes(7, clientBacklog: 0), now: start + .seconds(4)) == .none)
        #expect(machine.wakeup == start + .seconds(9))
        // The timer armed for the first deadline fires early for the new one: nothing happens.
        #expect(machine.event(.timer, now: start + .seconds(5)) == .none)
        #expect(machine.event(.timer, now: start + .seconds(9)) == .finish(.idleTimeout))
        #expect(machine.bytesFromClient == 10 && machine.bytesToClient == 7)
        #expect(machine.wakeup == nil)
        #expect(machine.event(.timer, now: start + .seconds(20)) == .none)
    }

    @Test func aSideAboveTheMarkPausesTheOtherUntilItDrains() {
        var machine = opened()
        _ = machine.event(.clientBytes(100, upstreamBacklog: Machine.highWaterMark), now: start)
        #expect(!machine.clientReadingPaused, "at the mark, not above it")
        _ = machine.event(.clientBytes(100, upstreamBacklog: Machine.highWaterMark + 1), now: start)
        #expect(machine.clientReadingPaused && !machine.upstreamReadingPaused)
        _ = machine.event(.upstreamDrained, now: start)
        #expect(!machine.clientReadingPaused)
        _ = machine.event(.upstreamBytes(100, clientBacklog: Machine.highWaterMark + 1), now: start)
        #expect(machine.upstreamReadingPaused)
        _ = machine.event(.clientDrained, now: start)
        #expect(!machine.upstreamReadingPaused)
    }

    @Test func eachFinIsPassedOnAndTheSecondEndsTheTunnel() {
        var machine = opened()
        #expect(machine.event(.upstreamFinished, now: start) == .shutdownWriting(.client))
        #expect(machine.state == .halfClosed(finished: .upstream))
        #expect(machine.event(.upstreamFinished, now: start) == .none)
        #expect(machine.event(.clientFinished, now: start) == .finish(.closed))
        #expect(machine.event(.upstreamClosed(reset: false), now: start) == .none, "reported once")

        var other = opened()
        #expect(other.event(.clientFinished, now: start) == .shutdownWriting(.upstream))
        #expect(other.event(.upstreamFinished, now: start) == .finish(.closed))
    }

    @Test func whyItEnded() {
        var machine = opened()
        #expect(machine.event(.upstreamClosed(reset: false), now: start) == .finish(.upstreamClosed))
        machine = opened()
        #expect(machine.event(.upstreamClosed(reset: true), now: start) == .finish(.upstreamReset))
        machine = opened()
        #expect(machine.event(.clientClosed, now: start) == .finish(.clientClosed))
        #expect(machine.event(.upstreamClosed(reset: false), now: start) == .none)
        // The upstream closing after the client finished is the normal end.
        machine = opened()
        _ = machine.event(.clientFinished, now: start)
        #expect(machine.event(.upstreamClosed(reset: false), now: start) == .finish(.closed))
    }

    @Test func beforeItOpens() {
        // The upstream fails to connect: the client gets an error, nothing is logged as a tunnel.
        var machine = Machine(idleTimeout: .seconds(5), now: start)
        #expect(machine.event(.upstreamClosed(reset: true), now: start) == .refuseConnect)
        #expect(machine.state == .failed)
        #expect(machine.event(.clientClosed, now: start) == .none)
        // The client leaves while connecting: the upstream is dropped, nothing reported.
        machine = Machine(idleTimeout: .seconds(5), now: start)
        #expect(machine.event(.clientClosed, now: start) == .abandon)
        #expect(machine.event(.connected, now: start) == .none)
        // The client's FIN right behind its bytes: passed on, and the tunnel opens half-closed.
        machine = Machine(idleTimeout: .seconds(5), now: start)
        #expect(machine.event(.clientBytes(5, upstreamBacklog: 5), now: start) == .none)
        #expect(machine.event(.clientFinished, now: start) == .shutdownWriting(.upstream))
        #expect(machine.event(.connected, now: start) == .open)
        #expect(machine.state == .halfClosed(finished: .client))
        #expect(machine.event(.upstreamFinished, now: start) == .finish(.closed))
        #expect(machine.bytesFromClient == 5)
    }
}
