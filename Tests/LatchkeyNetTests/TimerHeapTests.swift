import Synchronization
import Testing

@testable import LatchkeyNet

/// `TimerHeap` on its own (no loop): timers leave it when cancelled, wherever they sit, and the rest fire in
/// deadline order.
@Suite struct TimerHeapTests {
    final class Fired: Sendable {
        let order = Mutex<[Int]>([])
        func append(_ id: Int) { order.withLock { $0.append(id) } }
        var ids: [Int] { order.withLock { $0 } }
    }

    @Test func cancelledTimersLeaveFromAnyPlaceAndTheRestFireInDeadlineOrder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let heap = TimerHeap()
            let fired = Fired()
            // Seconds apart, armed in random order: deadline order is delay order.
            let delays = Array(1...200).shuffled(using: &generator)
            var timers: [Int: LoopTimer] = [:]
            for delay in delays {
                timers[delay] = heap.schedule(after: .seconds(delay)) { fired.append(delay) }
            }
            let cancelled = Set(delays.prefix(120))
            for delay in cancelled { timers[delay]!.cancel() }
            timers[delays[0]]!.cancel()  // again: nothing changes
            #expect(heap.liveCount == 80)
            let firstLive = delays.filter { !cancelled.contains($0) }.min()!
            #expect(heap.nextDeadline() == timers[firstLive]!.deadlineForTests)
            heap.fireDue(now: .max)
            #expect(fired.ids == delays.filter { !cancelled.contains($0) }.sorted())
            #expect(heap.liveCount == 0 && heap.nextDeadline() == nil)
        }
    }

    @Test func handlersMayCancelAndArmTimersWhileTheHeapFires() {
        let heap = TimerHeap()
        let fired = Fired()
        let later = Mutex<LoopTimer?>(nil)
        _ = heap.schedule(after: .seconds(1)) {
            fired.append(1)
            later.withLock { $0?.cancel() }  // 3 never fires
            _ = heap.schedule(after: .seconds(10)) { fired.append(4) }
        }
        _ = heap.schedule(after: .seconds(2)) { fired.append(2) }
        later.withLock { $0 = heap.schedule(after: .seconds(3)) { fired.append(3) } }
        // Due: the first two only (4, armed while firing, is due 10 s after it was armed).
        heap.fireDue(now: heap.nextDeadline()! + 1_500_000_000)
        #expect(fired.ids == [1, 2])
        #expect(heap.liveCount == 1)
        heap.fireDue(now: .max)
        #expect(fired.ids == [1, 2, 4])
        #expect(heap.liveCount == 0)
    }

    @Test func aTimerReleasedByEveryoneButTheHeapStillFires() {
        let heap = TimerHeap()
        let fired = Fired()
        do { _ = heap.schedule(after: .zero) { fired.append(7) } }
        heap.fireDue(now: .max)
        #expect(fired.ids == [7])
    }

    /// A delay too long for the clock's range is "never", not a deadline wrapped round to the past; a
    /// negative one is due at once.
    @Test func hugeDelaysSaturateAndNegativeOnesAreDueAtOnce() {
        let heap = TimerHeap()
        let fired = Fired()
        _ = heap.schedule(after: .seconds(Int64.max)) { fired.append(1) }
        _ = heap.schedule(after: .seconds(-5)) { fired.append(2) }
        heap.fireDue(now: MonotonicClock.nanoseconds())
        #expect(fired.ids == [2])
        // Int64.max nanoseconds (292 years) from now at the least: the delay saturated instead of wrapping.
        #expect(heap.nextDeadline()! >= UInt64(Int64.max))
    }
}
