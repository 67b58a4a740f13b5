import Dispatch

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

    /// Creates a loop with its own serial queue named `label`.
    public init(label: String) {
        self.queue = DispatchQueue(label: label)
        self.readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
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

    /// Runs `handler` on this loop after `delay` unless the returned timer is cancelled first.
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        LoopTimer(queue: queue, delay: delay, handler: handler)
    }
}

/// A one-shot timer on an event loop's queue. Cancelling is idempotent; a cancelled timer never fires.
public final class LoopTimer: @unchecked Sendable {
    // Only touched on the owning loop's queue (created, fired and cancelled there).
    private var source: DispatchSourceTimer?

    init(queue: DispatchQueue, delay: Duration, handler: @escaping @Sendable () -> Void) {
        let source = DispatchSource.makeTimerSource(queue: queue)
        let (seconds, attoseconds) = delay.components
        let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        source.schedule(deadline: .now() + .nanoseconds(nanoseconds))
        self.source = source
        source.setEventHandler { [weak self] in
            guard let self, self.source != nil else { return }
            self.cancel()
            handler()
        }
        source.activate()
    }

    /// Stops the timer; its handler will not run afterwards.
    public func cancel() {
        source?.cancel()
        source = nil
    }

    deinit { source?.cancel() }
}

/// A fixed set of event loops, about one per core; connections are spread over them round-robin.
public final class EventLoopGroup: @unchecked Sendable {
    /// The loops, fixed at creation.
    public let loops: [EventLoop]
    // Round-robin cursor; only advanced from the accepting queue, races would only skew balance.
    private var cursor = 0

    /// Creates `count` loops (at least one).
    public init(count: Int, label: String = "latchkey.loop") {
        loops = (0..<max(1, count)).map { EventLoop(label: "\(label).\($0)") }
    }

    /// The next loop in round-robin order.
    public func next() -> EventLoop {
        cursor = (cursor &+ 1) % loops.count
        return loops[cursor]
    }
}
