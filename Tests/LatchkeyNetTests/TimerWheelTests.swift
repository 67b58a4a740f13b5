import Dispatch
import LatchkeyNet
import Synchronization
import Testing

@Suite struct TimerWheelTests {
    /// Records which timers fired, in order.
    final class Fired: Sendable {
        let order = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
    }

    @Test func timersFireInDeadlineOrderAndCancelledOnesNever() {
        let loop = EventLoop(label: "timers")
        let fired = Fired()
        loop.queue.sync {
            // Scheduled out of order; 2 and 4 are cancelled.
            var timers: [Int: LoopTimer] = [:]
            for (id, ms) in [(3, 60), (1, 20), (4, 70), (2, 40), (5, 90)] {
                timers[id] = loop.schedule(after: .milliseconds(ms)) {
                    fired.order.withLock { $0.append(id) }
                    if id == 5 { fired.done.signal() }
                }
            }
            timers[2]?.cancel()
            timers[4]?.cancel()
            timers[4]?.cancel()  // idempotent
        }
        #expect(fired.done.wait(timeout: .now() + 10) == .success)
        #expect(fired.order.withLock { $0 } == [1, 3, 5])
    }

    @Test func aTimerNeverFiresEarly() {
        let loop = EventLoop(label: "early")
        let done = DispatchSemaphore(value: 0)
        let elapsed = Mutex<Duration>(.zero)
        loop.queue.sync {
            let start = ContinuousClock.now
            _ = loop.schedule(after: .milliseconds(50)) {
                elapsed.withLock { $0 = ContinuousClock.now - start }
                done.signal()
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(elapsed.withLock { $0 } >= .milliseconds(50))
    }

    @Test func manyCancelledTimersDoNotKeepLiveOnesFromFiring() {
        // Thousands of armed-then-cancelled timeouts (the per-request pattern) trigger compaction; the live
        // timer scheduled among them must still fire.
        let loop = EventLoop(label: "compact")
        let done = DispatchSemaphore(value: 0)
        loop.queue.sync {
            for _ in 0..<5_000 {
                loop.schedule(after: .seconds(30)) {}.cancel()
            }
            _ = loop.schedule(after: .milliseconds(20)) { done.signal() }
            for _ in 0..<5_000 {
                loop.schedule(after: .seconds(30)) {}.cancel()
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
    }
}
