import Dispatch
import LatchkeyNet
import Synchronization
import Testing

/// `EventLoop.now`: one clock reading per turn on epoll, a fresh reading at every call on Dispatch, and on
/// both the monotonic clock the loop's timers run on.
@Suite struct LoopClockTests {
    /// Spins (bounded by the clock, no sleep) until the monotonic clock has passed `nanoseconds`.
    private static func spin(past nanoseconds: UInt64) {
        while MonotonicClock.nanoseconds() <= nanoseconds {}
    }

    @Test func anEpollTurnSharesOneReading() {
        let loop = EventLoop(label: "clock.turn", backend: .epoll)
        let (first, second, fresh) = loop.runAndWait { () -> (UInt64, UInt64, UInt64) in
            let first = loop.now
            Self.spin(past: first + 2_000_000)  // 2 ms of work inside one turn
            return (first, loop.now, MonotonicClock.nanoseconds())
        }
        #expect(first == second, "the turn's reading, not the clock's")
        #expect(fresh >= first + 2_000_000)
    }

    @Test func theDispatchLoopReadsTheClockEachTime() {
        let loop = EventLoop(label: "clock.dispatch", backend: .dispatch)
        let (first, second) = loop.runAndWait { () -> (UInt64, UInt64) in
            let first = loop.now
            Self.spin(past: first + 1_000_000)
            return (first, loop.now)
        }
        #expect(second > first + 1_000_000)
    }

    @Test(arguments: EventLoopBackend.allCases) func aLaterTurnReadsTheClockAgain(backend: EventLoopBackend) {
        let loop = EventLoop(label: "clock.later", backend: backend)
        let done = DispatchSemaphore(value: 0)
        let readings = Mutex<(armed: UInt64, fired: UInt64, clock: UInt64)>((0, 0, 0))
        let before = MonotonicClock.nanoseconds()
        loop.runAndWait {
            let armed = loop.now
            _ = loop.schedule(after: .milliseconds(5)) {
                readings.withLock { $0 = (armed, loop.now, MonotonicClock.nanoseconds()) }
                done.signal()
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        let (armed, fired, clock) = readings.withLock { $0 }
        #expect(armed >= before, "the monotonic clock, read in this turn")
        #expect(fired >= armed + 5_000_000, "a timer's turn reads the clock after the timer is due")
        #expect(fired <= clock)
    }
}
