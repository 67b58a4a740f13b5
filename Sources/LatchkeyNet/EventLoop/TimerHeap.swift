#if canImport(Glibc)
import Glibc
#endif

/// A one-shot timer on an event loop. Cancelling is idempotent; a cancelled timer never fires.
/// Create, fire and cancel it on its loop.
public final class LoopTimer: @unchecked Sendable {  // only touched on the owning loop
    fileprivate let deadline: UInt64
    fileprivate var handler: (@Sendable () -> Void)?
    /// Where the timer sits in its heap while armed; -1 once it fired or was cancelled.
    fileprivate var index = -1
    private unowned let heap: TimerHeap

    fileprivate init(deadline: UInt64, heap: TimerHeap, handler: @escaping @Sendable () -> Void) {
        self.deadline = deadline
        self.heap = heap
        self.handler = handler
    }

    /// The deadline in `MonotonicClock` nanoseconds (tests).
    var deadlineForTests: UInt64 { deadline }

    /// Stops the timer; its handler will not run afterwards.
    public func cancel() {
        guard handler != nil else { return }
        handler = nil
        heap.remove(self)
    }
}

/// The timers of one loop: a min-heap of deadlines, served by whatever wakes the loop (the `epoll_wait`
/// timeout, or a Dispatch timer source ticking while timers are pending).
///
/// Every request arms a timeout and nearly always cancels it, so arming and cancelling are heap operations
/// with no system call, no dictionary and no wake-up. A cancelled timer leaves the heap at once (each knows
/// its place), so the heap holds only live timers: a few per connection, its depth a handful of levels.
/// (Left in place until due, cancelled timers made the heap thousands deep under load, and every request
/// paid for sifting its dead timer out from the top later.) The heap holds its timers unmanaged, one retain
/// each taken when armed, so moving them between levels costs no reference counting.
final class TimerHeap: @unchecked Sendable {  // confined to its loop
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var heap: [Unmanaged<LoopTimer>] = []

    deinit {
        for entry in heap { entry.release() }
    }

    /// Timers armed and neither fired nor cancelled.
    var liveCount: Int { heap.count }

    func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        let nanoseconds = UInt64(max(0, delay.saturatingNanoseconds))
        let (deadline, overflow) = MonotonicClock.nanoseconds().addingReportingOverflow(nanoseconds)
        let timer = LoopTimer(deadline: overflow ? .max : deadline, heap: self, handler: handler)
        heap.append(Unmanaged.passRetained(timer))
        siftUp(heap.count - 1)
        return timer
    }

    /// A cancelled timer leaves the heap.
    fileprivate func remove(_ timer: LoopTimer) {
        guard timer.index >= 0 else { return }
        removeEntry(at: timer.index).release()
    }

    /// The earliest deadline.
    func nextDeadline() -> UInt64? { heap.first.map { $0.takeUnretainedValue().deadline } }

    /// Runs the handlers of every timer due at `now`, in deadline order. Handlers may arm and cancel timers.
    func fireDue(now: UInt64) {
        while let first = heap.first, first.takeUnretainedValue().deadline <= now {
            let timer = removeEntry(at: 0).takeRetainedValue()
            guard let handler = timer.handler else { continue }
            timer.handler = nil
            handler()
        }
    }

    // MARK: Binary heap on `deadline`

    private func deadline(at index: Int) -> UInt64 { heap[index].takeUnretainedValue().deadline }

    private func place(_ entry: Unmanaged<LoopTimer>, at index: Int) {
        heap[index] = entry
        entry.takeUnretainedValue().index = index
    }

    /// Takes the entry at `index` out (its retain goes to the caller) and restores the heap order.
    private func removeEntry(at index: Int) -> Unmanaged<LoopTimer> {
        let removed = heap[index]
        removed.takeUnretainedValue().index = -1
        let last = heap.removeLast()
        if index < heap.count {
            place(last, at: index)
            siftDown(index)
            siftUp(index)
        }
        return removed
    }

    private func siftUp(_ start: Int) {
        let entry = heap[start]
        let due = entry.takeUnretainedValue().deadline
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard due < deadline(at: parent) else { break }
            place(heap[parent], at: child)
            child = parent
        }
        place(entry, at: child)
    }

    private func siftDown(_ start: Int) {
        let entry = heap[start]
        let due = entry.takeUnretainedValue().deadline
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            let right = left + 1
            let child = right < heap.count && deadline(at: right) < deadline(at: left) ? right : left
            guard deadline(at: child) < due else { break }
            place(heap[child], at: parent)
            parent = child
        }
        place(entry, at: parent)
    }
}
