import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One event loop: the single owner of the state of every connection assigned to it.
///
/// Everything a connection does (socket readiness, parser state, timers) runs on its loop, one thing at a
/// time, so connection state needs no locks. Work from elsewhere hops on with `execute`. How the loop waits
/// is its `backend` (see `EventLoopBackend`): a thread of its own blocking in `epoll_wait`, or a serial
/// Dispatch queue with Dispatch sources. Both give the same guarantees through this API.
///
/// Exclusivity: the per-request state of loop-confined objects (a connection's buffers and parser, an
/// exchange's state machine, the loop's own queues and timer heap) is marked `@exclusivity(unchecked)`.
/// Swift otherwise checks every access to a class's stored property at run time (a call into the runtime and
/// a thread-local lookup each): about a hundred per request, 7% of the proxy's instructions. These
/// properties are only touched on their loop, one callback at a time, and are never mutated re-entrantly:
/// parsers and state machines return events and actions, which run after the mutation ended. Debug builds
/// (every test run) still check statically what the compiler can see.
public final class EventLoop: @unchecked Sendable {  // immutable; `readBuffer` and `timers` only used on the loop
    /// How this loop waits for events.
    public let backend: EventLoopBackend
    /// The name of the loop (its thread or queue label).
    public let label: String
    /// Scratch space for socket reads. Shared by every connection of the loop, which is safe because they
    /// all run serially on it, and it keeps a 64 KiB buffer per connection out of memory.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// This loop's timers.
    let timers: TimerHeap
    /// The backend doing the waiting.
    let driver: any LoopDriver
    /// The time of the turn at hand (see `now`).
    let clock = LoopClock()

    /// Creates a loop named `label` on `backend`. An epoll loop starts its thread at once and lives for the
    /// rest of the process; where epoll is unavailable the loop falls back to Dispatch.
    public init(label: String, backend: EventLoopBackend = .platformDefault) {
        self.label = label
        self.readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        let timers = TimerHeap()
        self.timers = timers
        if backend == .epoll, let epoll = EpollLoopDriver(label: label, timers: timers, clock: clock) {
            self.backend = .epoll
            self.driver = epoll
            epoll.start()
        } else {
            self.backend = .dispatch
            self.driver = DispatchLoopDriver(label: label, timers: timers)
        }
    }

    deinit { readBuffer.deallocate() }

    /// Runs `work` on this loop, asynchronously (after the current event when called on the loop).
    public func execute(_ work: @escaping @Sendable () -> Void) {
        driver.execute(work)
    }

    /// `CLOCK_MONOTONIC` nanoseconds as of the turn at hand (`LoopClock`: read once per turn on epoll, at
    /// every call on Dispatch). For what a turn handles to share one reading: request timings, idle marks.
    /// Must be called on this loop.
    @inline(__always)
    public var now: UInt64 {
        assertInLoop()
        return clock.nanoseconds
    }

    /// How long ago `mark` (a reading of `now`) was, as of the turn at hand. Must be called on this loop.
    @inline(__always)
    public func elapsed(since mark: UInt64) -> Duration {
        Duration.nanoseconds(Int64(bitPattern: now &- mark))
    }

    /// Whether the caller runs on this loop.
    public var inLoop: Bool { driver.isInLoop }

    /// Debug-build check that the caller runs on this loop.
    @inline(__always)
    public func assertInLoop() {
        #if DEBUG
        precondition(driver.isInLoop, "not on event loop \(label)")
        #endif
    }

    /// Runs `body` on this loop and waits for it: for setup, shutdown and tests, never on the data path.
    /// Called on the loop itself, it runs `body` in place.
    public func runAndWait<T>(_ body: () throws -> T) throws -> T {
        if inLoop { return try body() }
        return try withoutActuallyEscaping(body) { escapable in
            // The box lets go of `body` before the caller resumes: it must not outlive this call.
            let work = UncheckedBox<(() throws -> T)?>(escapable)
            let outcome = UncheckedBox<Result<T, any Error>?>(nil)
            let done = DispatchSemaphore(value: 0)
            execute {
                outcome.value = Result { try work.value!() }
                work.value = nil
                done.signal()
            }
            done.wait()
            return try outcome.value!.get()
        }
    }

    /// `runAndWait` for a body that cannot throw.
    public func runAndWait<T>(_ body: () -> T) -> T {
        // The throwing variant only rethrows what `body` throws, and this `body` does not.
        // swiftlint:disable:next force_try
        try! runAndWait { () throws -> T in body() }
    }

    /// Runs `handler` on this loop after `delay` unless the returned timer is cancelled first. Must be called
    /// on this loop. Timers fire in deadline order, never early, and late by at most the backend's
    /// resolution (1 ms for epoll, 10 ms for Dispatch).
    public func schedule(after delay: Duration, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        assertInLoop()
        let timer = timers.schedule(after: delay, handler)
        driver.timerArmed()
        return timer
    }

    /// Arms `node` (re-arms it when it is armed already): its `timerFired()` runs on this loop after `delay`
    /// unless `disarm` comes first. The allocation-free form of `schedule` for an object armed once per
    /// request. Must be called on this loop.
    public func arm(_ node: LoopTimerNode, after delay: Duration) {
        assertInLoop()
        timers.arm(node, after: delay)
        driver.timerArmed()
    }

    /// Disarms `node`; nothing when it is not armed. Must be called on this loop.
    public func disarm(_ node: LoopTimerNode) {
        assertInLoop()
        timers.disarm(node)
    }

    /// Starts watching `fd` (non-blocking) for readiness; `handler` is called on this loop. The watch owns
    /// the descriptor from now on: `FDWatch.close()` closes it once nothing can report on it any more.
    func watch(fd: Int32, handler: any FDEventHandler) -> any FDWatch {
        driver.watch(fd: fd, handler: handler)
    }

    /// Asks `item.flushAtEndOfTurn()` to run once the loop has handled the events at hand (epoll), so that
    /// what several steps of one turn write goes out in one system call; right away on Dispatch.
    public func flushAtEndOfTurn(_ item: any EndOfTurnFlush) {
        driver.flushAtEndOfTurn(item)
    }

    /// `flushAtEndOfTurn`, but never inside the caller's call on either backend (Dispatch queues it as work):
    /// for a flush whose outcome calls back into objects that may be in the middle of the call that asked for
    /// it (an HTTP/2 connection's streams). On epoll it costs what `flushAtEndOfTurn` costs: no closure, no
    /// allocation, where `execute` allocated both for every flush.
    public func flushAfterThisCall(_ item: any EndOfTurnFlush) {
        driver.flushAfterThisCall(item)
    }
}

/// A value handed across threads while its owner waits (`runAndWait`), so no two threads touch it at once.
final class UncheckedBox<Value>: @unchecked Sendable {  // written by one thread, read after a semaphore
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A fixed set of event loops, sized to the CPUs the process may use; connections are spread over them
/// round-robin.
public final class EventLoopGroup: Sendable {
    /// The loops, fixed at creation.
    public let loops: [EventLoop]
    /// How the loops wait for events.
    public let backend: EventLoopBackend
    /// Round-robin cursor. Atomic: the proxy and admin listeners each advance it from their own loop.
    private let cursor = Atomic<Int>(0)

    /// Creates `count` loops (at least one) on `backend`.
    public init(count: Int, backend: EventLoopBackend = .platformDefault, label: String = "latchkey.loop") {
        loops = (0..<max(1, count)).map { EventLoop(label: "\(label).\($0)", backend: backend) }
        self.backend = loops[0].backend
    }

    /// The next loop in round-robin order.
    public func next() -> EventLoop {
        guard loops.count > 1 else { return loops[0] }
        let ticket = cursor.wrappingAdd(1, ordering: .relaxed).newValue
        return loops[Int(UInt(bitPattern: ticket) % UInt(loops.count))]
    }
}
