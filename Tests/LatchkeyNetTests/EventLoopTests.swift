import Dispatch
import LatchkeyNet
import Synchronization
import Testing

@Suite struct LoopTimerTests {
    /// Records which timers fired, in order.
    final class Fired: Sendable {
        let order = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
    }

    @Test(arguments: EventLoopBackend.allCases) func timersFireInDeadlineOrderAndCancelledOnesNever(backend: EventLoopBackend) {
        let loop = EventLoop(label: "timers", backend: backend)
        let fired = Fired()
        loop.runAndWait {
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

    @Test(arguments: EventLoopBackend.allCases) func aTimerNeverFiresEarly(backend: EventLoopBackend) {
        let loop = EventLoop(label: "early", backend: backend)
        let done = DispatchSemaphore(value: 0)
        let elapsed = Mutex<Duration>(.zero)
        loop.runAndWait {
            let start = ContinuousClock.now
            _ = loop.schedule(after: .milliseconds(50)) {
                elapsed.withLock { $0 = ContinuousClock.now - start }
                done.signal()
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(elapsed.withLock { $0 } >= .milliseconds(50))
    }

    @Test(arguments: EventLoopBackend.allCases) func manyCancelledTimersDoNotKeepLiveOnesFromFiring(backend: EventLoopBackend) {
        // Thousands of armed-then-cancelled timeouts (the per-request pattern) leave the heap as they are
        // cancelled; the live timer scheduled among them must still fire.
        let loop = EventLoop(label: "compact", backend: backend)
        let done = DispatchSemaphore(value: 0)
        loop.runAndWait {
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

/// What both backends promise through the `EventLoop` API, beyond timers.
@Suite struct EventLoopBackendTests {
    @Test(arguments: EventLoopBackend.allCases) func workFromAnotherThreadRunsOnTheLoopInOrder(backend: EventLoopBackend) {
        let loop = EventLoop(label: "order", backend: backend)
        #expect(loop.backend == backend)
        #expect(!loop.inLoop)
        let seen = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        for index in 0..<1_000 {
            loop.execute {
                precondition(loop.inLoop)
                seen.withLock { $0.append(index) }
                if index == 999 { done.signal() }
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(seen.withLock { $0 } == Array(0..<1_000))
    }

    @Test(arguments: EventLoopBackend.allCases) func workQueuedOnTheLoopRunsAfterTheCurrentWork(backend: EventLoopBackend) {
        let loop = EventLoop(label: "later", backend: backend)
        let seen = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            loop.execute {
                seen.withLock { $0.append("queued") }
                done.signal()
            }
            seen.withLock { $0.append("current") }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(seen.withLock { $0 } == ["current", "queued"])
    }

    @Test(arguments: EventLoopBackend.allCases) func runAndWaitReturnsAndRethrows(backend: EventLoopBackend) {
        struct Refused: Error {}
        let loop = EventLoop(label: "wait", backend: backend)
        #expect(loop.runAndWait { loop.inLoop })
        #expect(throws: Refused.self) { try loop.runAndWait { () throws -> Int in throw Refused() } }
        // Nested on the loop itself: runs in place instead of deadlocking.
        #expect(loop.runAndWait { loop.runAndWait { 42 } } == 42)
    }
}

/// `flushAtEndOfTurn` and `flushAfterThisCall`: when a batched write goes out.
@Suite struct EndOfTurnFlushTests {
    /// Counts its flushes; a flush while `inCall` is set happened inside the caller's call.
    final class Recorder: EndOfTurnFlush, @unchecked Sendable {  // touched on the loop only
        var inCall = false
        var flushes = 0
        var flushedInsideTheCall = false
        let done = DispatchSemaphore(value: 0)

        func flushAtEndOfTurn() {
            flushes += 1
            if inCall { flushedInsideTheCall = true }
            done.signal()
        }
    }

    /// Asks for a flush inside a call on `loop` (`ask`), waits for it, and returns (flushes, whether one ran
    /// inside the call).
    private func flush(on loop: EventLoop, _ ask: @escaping (EventLoop, Recorder) -> Void) -> (Int, Bool) {
        let recorder = Recorder()
        loop.runAndWait {
            recorder.inCall = true
            ask(loop, recorder)
            recorder.inCall = false
        }
        #expect(recorder.done.wait(timeout: .now() + 10) == .success)
        return loop.runAndWait { (recorder.flushes, recorder.flushedInsideTheCall) }
    }

    @Test(arguments: EventLoopBackend.allCases) func aFlushAfterThisCallRunsOnceAndNeverInsideTheCall(backend: EventLoopBackend) {
        let (flushes, inside) = flush(on: EventLoop(label: "flush.after", backend: backend)) { $0.flushAfterThisCall($1) }
        #expect(flushes == 1)
        #expect(!inside)
    }

    @Test func onEpollAFlushAtEndOfTurnWaitsForTheTurnToEnd() {
        let (flushes, inside) = flush(on: EventLoop(label: "flush.turn", backend: .epoll)) { $0.flushAtEndOfTurn($1) }
        #expect(flushes == 1)
        #expect(!inside)
    }
}
