#if canImport(Glibc)
import Glibc
#endif

/// What a loop's timer heap holds: an object armed at most once at a time, told `timerFired()` at its
/// deadline. An object armed over and over subclasses it (the proxy's exchange timers), so arming it
/// allocates nothing: a `LoopTimer` and the closure it runs were two allocations each time. Arm, fire and
/// disarm it on its loop.
open class LoopTimerNode: @unchecked Sendable {  // only touched on the owning loop
    /// Where the node sits in its heap while armed; -1 otherwise.
    fileprivate var heapIndex = -1

    public init() {}

    /// Whether the node is armed (neither fired nor disarmed since).
    public final var isArmed: Bool { heapIndex >= 0 }

    /// Called on the loop at the deadline, the node already disarmed (it may arm itself again).
    open func timerFired() {}
}

/// A one-shot timer running a closure, for everything that is not armed once per request. Cancelling is
/// idempotent; a cancelled timer never fires. Create, fire and cancel it on its loop.
public final class LoopTimer: LoopTimerNode, @unchecked Sendable {  // only touched on the owning loop
    private var handler: (@Sendable () -> Void)?
    private unowned let heap: TimerHeap

    fileprivate init(heap: TimerHeap, handler: @escaping @Sendable () -> Void) {
        self.heap = heap
        self.handler = handler
    }

    /// Stops the timer; its handler will not run afterwards.
    public func cancel() {
        guard handler != nil else { return }
        handler = nil
        heap.disarm(self)
    }

    override public func timerFired() {
        guard let handler else { return }
        self.handler = nil
        handler()
    }
}

/// The timers of one loop: a min-heap of deadlines, served by whatever wakes the loop (the `epoll_wait`
/// timeout, or a Dispatch timer source ticking while timers are pending).
///
/// Timeouts are armed often and nearly always cancelled (the proxy's exchanges leave theirs armed between
/// requests instead, which saves even the heap operations), so arming and cancelling are heap operations
/// with no system call, no dictionary and no wake-up. A cancelled timer leaves the heap at once (each knows
/// its place), so the heap holds only live timers: a few per connection, its depth a handful of levels.
/// (Left in place until due, cancelled timers made the heap thousands deep under load, and every request
/// paid for sifting its dead timer out from the top later.) The heap holds its timers unmanaged, one retain
/// each taken when armed, so moving them between levels costs no reference counting.
final class TimerHeap: @unchecked Sendable {  // confined to its loop
    /// A heap slot: the deadline beside the node, so sifting compares without visiting the nodes.
    private struct Entry {
        var deadline: UInt64
        var node: Unmanaged<LoopTimerNode>
    }

    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var heap: [Entry] = []

    deinit {
        for entry in heap { entry.node.release() }
    }

    /// Timers armed and neither fired nor cancelled.
    var liveCount: Int { heap.count }

    func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        let timer = LoopTimer(heap: self, handler: handler)
        arm(timer, after: delay)
        return timer
    }

    /// Arms `node` for `delay` from now, or re-arms it when it is armed already.
    func arm(_ node: LoopTimerNode, after delay: Duration) {
        let nanoseconds = UInt64(max(0, delay.saturatingNanoseconds))
        let (deadline, overflow) = MonotonicClock.nanoseconds().addingReportingOverflow(nanoseconds)
        if node.isArmed { disarm(node) }
        // The heap holds one retain while armed: a node nobody else keeps still fires.
        heap.append(Entry(deadline: overflow ? .max : deadline, node: Unmanaged.passRetained(node)))
        siftUp(heap.count - 1)
    }

    /// Takes `node` out of the heap; nothing when it is not armed.
    func disarm(_ node: LoopTimerNode) {
        guard node.heapIndex >= 0 else { return }
        removeEntry(at: node.heapIndex).node.release()
    }

    /// The earliest deadline.
    func nextDeadline() -> UInt64? { heap.first?.deadline }

    /// `node`'s deadline while it is armed (tests).
    func deadline(of node: LoopTimerNode) -> UInt64? { node.isArmed ? heap[node.heapIndex].deadline : nil }

    /// Runs the handlers of every timer due at `now`, in deadline order. Handlers may arm and cancel timers.
    func fireDue(now: UInt64) {
        while let first = heap.first, first.deadline <= now {
            let node = removeEntry(at: 0).node.takeRetainedValue()
            node.timerFired()
        }
    }

    // MARK: Binary heap on `deadline`

    private func place(_ entry: Entry, at index: Int) {
        heap[index] = entry
        entry.node._withUnsafeGuaranteedRef { $0.heapIndex = index }
    }

    /// Takes the entry at `index` out (its retain goes to the caller) and restores the heap order.
    private func removeEntry(at index: Int) -> Entry {
        let removed = heap[index]
        removed.node._withUnsafeGuaranteedRef { $0.heapIndex = -1 }
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
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entry.deadline < heap[parent].deadline else { break }
            place(heap[parent], at: child)
            child = parent
        }
        place(entry, at: child)
    }

    private func siftDown(_ start: Int) {
        let entry = heap[start]
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            let right = left + 1
            let child = right < heap.count && heap[right].deadline < heap[left].deadline ? right : left
            guard heap[child].deadline < entry.deadline else { break }
            place(heap[child], at: parent)
            parent = child
        }
        place(entry, at: parent)
    }
}
