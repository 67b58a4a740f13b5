#if canImport(Glibc)
import Glibc
#endif

/// A one-shot timer on an event loop. Cancelling is idempotent; a cancelled timer never fires.
/// Create, fire and cancel it on its loop.
public final class LoopTimer: @unchecked Sendable {  // only touched on the owning loop
    fileprivate let deadline: UInt64
    fileprivate var handler: (@Sendable () -> Void)?
    private unowned let heap: TimerHeap

    fileprivate init(deadline: UInt64, heap: TimerHeap, handler: @escaping @Sendable () -> Void) {
        self.deadline = deadline
        self.heap = heap
        self.handler = handler
    }

    /// Stops the timer; its handler will not run afterwards.
    public func cancel() {
        guard handler != nil else { return }
        handler = nil
        heap.timerCancelled()
    }
}

/// The timers of one loop: a min-heap of deadlines, served by whatever wakes the loop (the `epoll_wait`
/// timeout, or a Dispatch timer source ticking while timers are pending).
///
/// Every request arms and cancels a few timeouts, so arming and cancelling are heap operations with no
/// system call, no dictionary and no wake-up: a cancelled timer stays in the heap, inert, until it comes
/// due, or until cancelled ones dominate and the heap is compacted.
final class TimerHeap: @unchecked Sendable {  // confined to its loop
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var heap: [LoopTimer] = []
    private var cancelled = 0

    /// Timers armed and neither fired nor cancelled.
    var liveCount: Int { heap.count - cancelled }

    func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        let (seconds, attoseconds) = delay.components
        let nanoseconds = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        let timer = LoopTimer(deadline: MonotonicClock.nanoseconds() &+ nanoseconds, heap: self, handler: handler)
        push(timer)
        return timer
    }

    fileprivate func timerCancelled() {
        cancelled += 1
        if heap.count > 1024, cancelled * 4 > heap.count * 3 { compact() }
    }

    /// The earliest live deadline, dropping cancelled timers at the top.
    func nextDeadline() -> UInt64? {
        while let first = heap.first, first.handler == nil {
            popFirst()
            cancelled -= 1
        }
        return heap.first?.deadline
    }

    /// Runs the handlers of every timer due at `now`, in deadline order. Handlers may arm and cancel timers.
    func fireDue(now: UInt64) {
        while let first = heap.first, first.deadline <= now {
            popFirst()
            guard let handler = first.handler else {
                cancelled -= 1
                continue
            }
            first.handler = nil
            handler()
        }
    }

    private func compact() {
        let live = heap.filter { $0.handler != nil }
        heap.removeAll(keepingCapacity: true)
        cancelled = 0
        for timer in live { push(timer) }
    }

    // MARK: Binary heap on `deadline`

    private func push(_ timer: LoopTimer) {
        heap.append(timer)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popFirst() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call).
enum MonotonicClock {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
