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
            #expect(heap.nextDeadline() == heap.deadline(of: timers[firstLive]!))
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

    /// A node subclass is its own timer: armed, re-armed (moved, never twice in the heap), disarmed, fired once.
    final class Node: LoopTimerNode, @unchecked Sendable {
        let id: Int
        let fired: Fired
        var rearmOnFire: (TimerHeap, Duration)?
        init(_ id: Int, _ fired: Fired) {
            self.id = id
            self.fired = fired
        }
        override func timerFired() {
            fired.append(id)
            if let (heap, delay) = rearmOnFire {
                rearmOnFire = nil
                heap.arm(self, after: delay)
            }
        }
    }

    @Test func nodesAreArmedReArmedAndDisarmedInPlace() {
        let heap = TimerHeap()
        let fired = Fired()
        let nodes = (0..<6).map { Node($0, fired) }
        for (index, node) in nodes.enumerated() { heap.arm(node, after: .seconds(10 + index)) }
        #expect(heap.liveCount == 6 && nodes.allSatisfy(\.isArmed))
        heap.arm(nodes[5], after: .seconds(1))  // re-armed earlier: now first
        heap.arm(nodes[0], after: .seconds(100))  // re-armed later: now last
        #expect(heap.liveCount == 6)
        #expect(heap.nextDeadline() == heap.deadline(of: nodes[5]))
        heap.disarm(nodes[2])
        heap.disarm(nodes[2])  // again: nothing changes
        #expect(!nodes[2].isArmed && heap.deadline(of: nodes[2]) == nil && heap.liveCount == 5)
        heap.fireDue(now: .max)
        #expect(fired.ids == [5, 1, 3, 4, 0])
        #expect(heap.liveCount == 0 && !nodes.contains(where: \.isArmed))
    }

    @Test func aNodeMayArmItselfAgainWhenItFires() {
        let heap = TimerHeap()
        let fired = Fired()
        let node = Node(1, fired)
        node.rearmOnFire = (heap, .seconds(30))
        heap.arm(node, after: .zero)
        heap.fireDue(now: heap.nextDeadline()! + 1)  // due once: the re-arming is 30 s away
        #expect(fired.ids == [1] && node.isArmed && heap.liveCount == 1)
        heap.fireDue(now: .max)
        #expect(fired.ids == [1, 1] && !node.isArmed)
    }

    @Test func aNodeOnlyTheHeapKeepsStillFires() {
        let heap = TimerHeap()
        let fired = Fired()
        do { heap.arm(Node(9, fired), after: .zero) }
        heap.fireDue(now: .max)
        #expect(fired.ids == [9])
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
