import Dispatch
import Synchronization

/// One serial Dispatch queue that owns the state of every connection assigned to it.
///
/// Everything a connection does (socket sources, parser state, timers) runs on its loop's queue,
/// so connection state needs no locks. Work from elsewhere hops on with `execute`.
public final class EventLoop: @unchecked Sendable {  // immutable; `readBuffer` is only used on `queue`
    /// The serial queue all of this loop's connections run on.
    public let queue: DispatchQueue
    /// Scratch space for socket reads. Shared by every connection of the loop, which is safe because they
    /// all run serially on `queue`, and it keeps a 64 KiB buffer per connection out of memory.
    let readBuffer: UnsafeMutableRawBufferPointer

    /// This loop's timers.
    let timers: TimerWheel

    /// Creates a loop with its own serial queue named `label`.
    public init(label: String) {
        self.queue = DispatchQueue(label: label)
        self.readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        self.timers = TimerWheel(queue: queue)
    }

    deinit { readBuffer.deallocate() }

    /// Runs `work` on this loop's queue, asynchronously.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Debug-build check that the caller runs on this loop's queue.
    @inline(__always)
    public func assertInLoop() {
        #if DEBUG
        dispatchPrecondition(condition: .onQueue(queue))
        #endif
    }

    /// Runs `handler` on this loop after `delay` (to within `TimerWheel.resolution`) unless the returned
    /// timer is cancelled first. Must be called on this loop.
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        assertInLoop()
        return timers.schedule(after: delay, handler)
    }
}

/// A one-shot timer on an event loop. Cancelling is idempotent; a cancelled timer never fires.
/// Create, fire and cancel it on its loop.
public final class LoopTimer: @unchecked Sendable {  // only touched on the owning loop's queue
    private weak var wheel: TimerWheel?
    fileprivate let id: UInt64

    fileprivate init(wheel: TimerWheel, id: UInt64) {
        self.wheel = wheel
        self.id = id
    }

    /// Stops the timer; its handler will not run afterwards.
    public func cancel() { wheel?.cancel(id) }
}

/// The timers of one loop: a min-heap of deadlines served by a single repeating Dispatch timer source that
/// exists only while timers are pending.
///
/// Every request arms and cancels a few timeouts. A Dispatch timer source per timeout costs a wake-up of
/// libdispatch's manager thread to create and another to cancel (the profile showed context switches
/// dominating); here arming and cancelling are heap operations, and one tick per `resolution` serves all.
final class TimerWheel: @unchecked Sendable {  // confined to the loop's queue
    /// Timers fire up to this much late; timeouts here are tens of milliseconds and more.
    static let resolution: Duration = .milliseconds(10)

    private struct Entry {
        let deadline: UInt64
        let id: UInt64
    }

    private let queue: DispatchQueue
    private var heap: [Entry] = []
    private var handlers: [UInt64: @Sendable () -> Void] = [:]
    private var nextID: UInt64 = 0
    private var tick: DispatchSourceTimer?

    init(queue: DispatchQueue) { self.queue = queue }

    func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        nextID &+= 1
        let (seconds, attoseconds) = delay.components
        let nanoseconds = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        push(Entry(deadline: DispatchTime.now().uptimeNanoseconds &+ nanoseconds, id: nextID))
        handlers[nextID] = handler
        if tick == nil { startTicking() }
        return LoopTimer(wheel: self, id: nextID)
    }

    func cancel(_ id: UInt64) {
        // The heap entry is dropped when it comes due, or here once cancelled entries dominate: under load
        // most timeouts are cancelled long before they are due.
        guard handlers.removeValue(forKey: id) != nil else { return }
        if heap.count > 1024, heap.count > 4 * handlers.count { compact() }
    }

    private func compact() {
        let live = heap.filter { handlers[$0.id] != nil }
        heap.removeAll(keepingCapacity: true)
        for entry in live { push(entry) }
    }

    private func startTicking() {
        let source = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.milliseconds(Int(Self.resolution.components.attoseconds / 1_000_000_000_000_000))
        source.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(2))
        source.setEventHandler { [unowned self] in fireDue() }
        source.activate()
        tick = source
    }

    private func fireDue() {
        let now = DispatchTime.now().uptimeNanoseconds
        while let first = heap.first, first.deadline <= now {
            popFirst()
            if let handler = handlers.removeValue(forKey: first.id) { handler() }
        }
        if handlers.isEmpty {
            heap.removeAll()
            tick?.cancel()
            tick = nil
        }
    }

    deinit { tick?.cancel() }

    // MARK: Binary heap on `deadline`

    private func push(_ entry: Entry) {
        heap.append(entry)
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

/// A fixed set of event loops, about one per core; connections are spread over them round-robin.
public final class EventLoopGroup: Sendable {
    /// The loops, fixed at creation.
    public let loops: [EventLoop]
    /// Round-robin cursor. Atomic: each listener accepts on its own queue (proxy and admin), so two
    /// queues advance it.
    private let cursor = Atomic<Int>(0)

    /// How the loops wait for events.
    public let backend: EventLoopBackend

    /// Creates `count` loops (at least one) on `backend`.
    public init(count: Int, backend: EventLoopBackend = .platformDefault, label: String = "latchkey.loop") {
        self.backend = backend
        loops = (0..<max(1, count)).map { EventLoop(label: "\(label).\($0)") }
    }

    /// The next loop in round-robin order.
    public func next() -> EventLoop {
        let ticket = cursor.wrappingAdd(1, ordering: .relaxed).newValue
        return loops[Int(UInt(bitPattern: ticket) % UInt(loops.count))]
    }
}
