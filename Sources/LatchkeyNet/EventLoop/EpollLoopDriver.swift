import CLatchkeyShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The epoll backend: one thread of its own per loop, blocking in `epoll_wait`.
///
/// Descriptors are registered once, edge-triggered, for both directions; wanting or not wanting a direction
/// is bookkeeping here, never an `epoll_ctl`. Timers come from the loop's `TimerHeap` through the wait's
/// timeout. Work from other threads lands in `inbox` and wakes the thread through an eventfd, once per batch
/// (`wakePending`). Work queued from the loop itself, read checks and end-of-turn flushes run after the events
/// at hand, without a system call. Measured on one pinned CPU this costs well under one context switch per
/// proxied request, where Dispatch sources cost about four.
final class EpollLoopDriver: LoopDriver, @unchecked Sendable {  // loop state confined to `thread`; `inbox` locked
    private let label: String
    private let epollFD: Int32
    private let wakeFD: Int32
    private let timers: TimerHeap
    private let clock: LoopClock
    private var thread = pthread_t()
    /// Set by the loop thread before anything else runs on it; read by `isInLoop` from any thread (racy reads
    /// of a value written once before the thread does any work are benign: other threads never see their own id).
    private let threadID = Atomic<UInt>(0)

    // Cross-thread work.
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private let wakePending = Atomic<Bool>(false)

    // Loop-confined state, never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var watches: [EpollWatch?] = []
    @exclusivity(unchecked) private var generations: [UInt32] = []
    @exclusivity(unchecked) private var freeSlots: [Int] = []
    @exclusivity(unchecked) private var localWork: [@Sendable () -> Void] = []
    @exclusivity(unchecked) private var readChecks: [EpollWatch] = []
    @exclusivity(unchecked) private var flushes: [any EndOfTurnFlush] = []
    // The batch being run, swapped with its queue each turn: taking a copy of a queue and emptying the queue
    // allocated a new buffer every turn. Both arrays keep their capacity.
    @exclusivity(unchecked) private var runningWork: [@Sendable () -> Void] = []
    @exclusivity(unchecked) private var runningChecks: [EpollWatch] = []
    @exclusivity(unchecked) private var runningFlushes: [any EndOfTurnFlush] = []

    private static let wakeToken = UInt64.max
    private static let maxEvents: Int32 = 256

    /// Nil where epoll or eventfd is unavailable.
    init?(label: String, timers: TimerHeap, clock: LoopClock) {
        let epollFD = latchkey_epoll_create()
        guard epollFD >= 0 else { return nil }
        let wakeFD = latchkey_eventfd_create()
        guard wakeFD >= 0, latchkey_epoll_add_edge(epollFD, wakeFD, Self.wakeToken) == 0 else {
            Glibc.close(epollFD)
            if wakeFD >= 0 { Glibc.close(wakeFD) }
            return nil
        }
        self.label = label
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.timers = timers
        self.clock = clock
    }

    /// Starts the loop thread. The thread keeps the driver alive: loops live as long as the process.
    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            let driver = Unmanaged<EpollLoopDriver>.fromOpaque(raw!).takeRetainedValue()
            driver.run()
            return nil
        }, context)
        precondition(created == 0, "cannot start event loop thread \(label): \(created)")
        // Not a data-path cost: loops start once. Wait until the thread has recorded its id, so that
        // `isInLoop` is right from the first `execute`.
        while threadID.load(ordering: .acquiring) == 0 { sched_yield() }
    }

    // MARK: Any thread

    func execute(_ work: @escaping @Sendable () -> Void) {
        if isInLoop {
            localWork.append(work)
            return
        }
        inbox.withLock { $0.append(work) }
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
            latchkey_eventfd_signal(wakeFD)
        }
    }

    var isInLoop: Bool { threadID.load(ordering: .relaxed) == UInt(bitPattern: Int(bitPattern: pthread_self())) }

    // MARK: Loop thread

    func watch(fd: Int32, handler: any FDEventHandler) -> any FDWatch {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = watches.count
            watches.append(nil)
            generations.append(0)
        }
        generations[slot] &+= 1
        let token = UInt64(generations[slot]) << 32 | UInt64(slot)
        let watch = EpollWatch(fd: fd, slot: slot, driver: self, handler: handler)
        watches[slot] = watch
        if latchkey_epoll_add_edge(epollFD, fd, token) != 0 {
            // Not a socket epoll can watch (or out of memory): report it as readable and writable so the
            // handler's next system call fails with the real error and closes the connection.
            watch.registrationFailed = true
            readChecks.append(watch)
        }
        return watch
    }

    func timerArmed() {}  // the loop computes its wait timeout from the heap every turn

    func flushAtEndOfTurn(_ item: any EndOfTurnFlush) {
        flushes.append(item)
    }

    func flushAfterThisCall(_ item: any EndOfTurnFlush) {
        flushes.append(item)  // the end of the turn is after the call already
    }

    fileprivate func readCheckNeeded(_ watch: EpollWatch) {
        readChecks.append(watch)
    }

    fileprivate func release(_ watch: EpollWatch) {
        watches[watch.slot] = nil
        generations[watch.slot] &+= 1
        freeSlots.append(watch.slot)
    }

    private func run() {
        threadID.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .releasing)
        latchkey_set_thread_name("lk-" + label.split(separator: ".").suffix(2).joined(separator: "-"))
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(Self.maxEvents))
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: Int(Self.maxEvents))
        while true {
            let count = latchkey_epoll_wait(epollFD, tokens, events, Self.maxEvents, waitTimeout())
            if count < 0 {
                let code = errno
                precondition(code == EINTR, "epoll_wait failed on \(label): \(code)")
            }
            let now = clock.startTurn()  // before anything of the turn runs: it all shares this reading
            for index in 0..<Int(max(0, count)) {
                dispatch(token: tokens[index], events: events[index])
            }
            if timers.liveCount > 0 { timers.fireDue(now: now) }
            runReadChecks()
            runLocalWork()
            runFlushes()
        }
    }

    /// 0 when work is already waiting; else until the next timer (rounded up to whole milliseconds, so
    /// timers never fire early); else forever.
    private func waitTimeout() -> Int32 {
        if !localWork.isEmpty || !readChecks.isEmpty || !flushes.isEmpty { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let now = MonotonicClock.nanoseconds()
        guard deadline > now else { return 0 }
        let milliseconds = (deadline - now + 999_999) / 1_000_000
        return Int32(min(milliseconds, UInt64(Int32.max)))
    }

    private func dispatch(token: UInt64, events: UInt32) {
        if token == Self.wakeToken {
            latchkey_eventfd_drain(wakeFD)
            wakePending.store(false, ordering: .releasing)
            let work = inbox.withLock { queued in
                let taken = queued
                queued.removeAll(keepingCapacity: true)
                return taken
            }
            for item in work { item() }
            return
        }
        let slot = Int(truncatingIfNeeded: token & 0xFFFF_FFFF)
        guard slot < watches.count, generations[slot] == UInt32(truncatingIfNeeded: token >> 32),
            let watch = watches[slot]
        else { return }  // closed earlier in this batch; the descriptor number may even be reused already
        watch.deliver(events)
    }

    private func runReadChecks() {
        guard !readChecks.isEmpty else { return }
        swap(&readChecks, &runningChecks)
        for watch in runningChecks { watch.deliverCheck() }
        runningChecks.removeAll(keepingCapacity: true)
    }

    /// Runs the work queued so far; work it queues in turn waits for the next turn (fairness: a connection
    /// that re-queues itself cannot starve the rest).
    private func runLocalWork() {
        guard !localWork.isEmpty else { return }
        swap(&localWork, &runningWork)
        for item in runningWork { item() }
        runningWork.removeAll(keepingCapacity: true)
    }

    private func runFlushes() {
        var rounds = 0
        while !flushes.isEmpty, rounds < 4 {
            swap(&flushes, &runningFlushes)
            for item in runningFlushes { item.flushAtEndOfTurn() }
            runningFlushes.removeAll(keepingCapacity: true)
            rounds += 1
        }
    }
}

/// A descriptor registered with an `EpollLoopDriver`.
private final class EpollWatch: FDWatch {  // confined to the driver's thread
    let fd: Int32
    let slot: Int
    unowned let driver: EpollLoopDriver
    var handler: (any FDEventHandler)?
    var wantRead = false
    var wantWrite = false
    var registrationFailed = false
    private(set) var shortReadDrains = false

    init(fd: Int32, slot: Int, driver: EpollLoopDriver, handler: any FDEventHandler) {
        self.fd = fd
        self.slot = slot
        self.driver = driver
        self.handler = handler
    }

    func setInterest(read: Bool, write: Bool) {
        let readTurnsOn = read && !wantRead
        let writeTurnsOn = write && !wantWrite
        wantRead = read
        wantWrite = write
        // An edge that came while a direction was off is gone: look once after the events at hand. For
        // writing the caller has just seen EAGAIN or EINPROGRESS, so the edge is still to come, unless
        // registration failed.
        if readTurnsOn || (writeTurnsOn && registrationFailed) { driver.readCheckNeeded(self) }
    }

    func deliver(_ events: UInt32) {
        let failure = latchkey_epoll_err | latchkey_epoll_hup
        if wantRead, events & (latchkey_epoll_in | latchkey_epoll_rdhup | failure) != 0 {
            // After a hang-up no further report comes: the handler must read on to EOF.
            shortReadDrains = events & (latchkey_epoll_rdhup | failure) == 0
            handler?.descriptorIsReadable()
        }
        if wantWrite, events & (latchkey_epoll_out | failure) != 0 {
            handler?.descriptorIsWritable()
        }
    }

    /// A turn-on check: report what the handler wants; it reads or writes until EAGAIN.
    func deliverCheck() {
        shortReadDrains = false
        if wantRead { handler?.descriptorIsReadable() }
        if wantWrite, registrationFailed { handler?.descriptorIsWritable() }
    }

    func close() {
        guard handler != nil else { return }
        handler = nil
        wantRead = false
        wantWrite = false
        driver.release(self)
        // Closing removes the descriptor from the epoll set (it is never duplicated); events already
        // returned for it are dropped by the slot's generation check.
        Glibc.close(fd)
    }
}
