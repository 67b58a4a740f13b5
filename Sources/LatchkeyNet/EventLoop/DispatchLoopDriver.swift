import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The Dispatch backend: one serial queue per loop, Dispatch read/write sources per descriptor and one
/// repeating timer source while timers are pending. Portable, and measurably slower (libdispatch's manager
/// thread runs `epoll_wait` and hands each event to a worker thread: context switches on every request).
final class DispatchLoopDriver: LoopDriver, @unchecked Sendable {  // mutable state confined to `queue`
    /// Timers fire up to this much late; timeouts here are tens of milliseconds and more.
    static let timerResolution: DispatchTimeInterval = .milliseconds(10)

    let queue: DispatchQueue
    private let timers: TimerHeap
    private var tick: DispatchSourceTimer?
    private static let ownerKey = DispatchSpecificKey<ObjectIdentifier>()

    init(label: String, timers: TimerHeap) {
        self.queue = DispatchQueue(label: label)
        self.timers = timers
        queue.setSpecific(key: Self.ownerKey, value: ObjectIdentifier(self))
    }

    deinit { tick?.cancel() }

    func execute(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    var isInLoop: Bool { DispatchQueue.getSpecific(key: Self.ownerKey) == ObjectIdentifier(self) }

    func watch(fd: Int32, handler: any FDEventHandler) -> any FDWatch {
        DispatchWatch(fd: fd, queue: queue, handler: handler)
    }

    func flushAtEndOfTurn(_ item: any EndOfTurnFlush) {
        item.flushAtEndOfTurn()
    }

    func flushAfterThisCall(_ item: any EndOfTurnFlush) {
        nonisolated(unsafe) let item = item  // runs on this queue, as its caller did
        queue.async { item.flushAtEndOfTurn() }
    }

    func timerArmed() {
        guard tick == nil else { return }
        let source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(deadline: .now() + Self.timerResolution, repeating: Self.timerResolution, leeway: .milliseconds(2))
        // Weak: `deinit` cancels the source, but a tick already on its way to the queue still runs, after the
        // driver is gone (seen in the unit tests, which tear loops down: "read an unowned reference but object
        // was already destroyed").
        source.setEventHandler { [weak self] in self?.fireDue() }
        source.activate()
        tick = source
    }

    private func fireDue() {
        timers.fireDue(now: MonotonicClock.nanoseconds())
        if timers.nextDeadline() == nil {
            tick?.cancel()
            tick = nil
        }
    }
}

/// A descriptor watched with Dispatch sources.
///
/// libdispatch on Linux reports readiness once per change (edge-style): data left unread after an event is
/// not reported again, and a suspended source that is resumed does not re-report what arrived while it was
/// suspended (FIELD-NOTES). So a source exists exactly while its direction is wanted and is cancelled
/// otherwise; a fresh source reports the descriptor's current readiness. Write sources are level-triggered
/// and would spin, another reason to keep one only while writing is wanted. The descriptor is closed by
/// `DescriptorCloser` once the watch and every source have let go of it (closing earlier races the sources).
private final class DispatchWatch: FDWatch, @unchecked Sendable {  // confined to `queue`
    private let fd: Int32
    private let queue: DispatchQueue
    private var handler: (any FDEventHandler)?
    private var closer: DescriptorCloser?
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?

    init(fd: Int32, queue: DispatchQueue, handler: any FDEventHandler) {
        self.fd = fd
        self.queue = queue
        self.handler = handler
        self.closer = DescriptorCloser(fd: fd)
    }

    /// libdispatch's reporting of later arrivals is not something to lean on: drain to EAGAIN.
    var shortReadDrains: Bool { false }

    func setInterest(read: Bool, write: Bool) {
        setReadSource(running: read)
        setWriteSource(running: write)
    }

    func close() {
        setInterest(read: false, write: false)
        handler = nil
        closer?.release()
        closer = nil
    }

    private func setReadSource(running: Bool) {
        if running, readSource == nil, let closer {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            closer.retain()
            source.setEventHandler { [self] in handler?.descriptorIsReadable() }
            source.setCancelHandler { closer.release() }
            source.activate()
            readSource = source
        } else if !running, let source = readSource {
            source.cancel()
            readSource = nil
        }
    }

    private func setWriteSource(running: Bool) {
        if running, writeSource == nil, let closer {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            closer.retain()
            source.setEventHandler { [self] in handler?.descriptorIsWritable() }
            source.setCancelHandler { closer.release() }
            source.activate()
            writeSource = source
        } else if !running, let source = writeSource {
            source.cancel()
            writeSource = nil
        }
    }
}

/// Closes a descriptor once the watch and every source that used it have let go of it.
private final class DescriptorCloser: @unchecked Sendable {  // retained/released only on the loop's queue
    private let fd: Int32
    private var users = 1

    init(fd: Int32) { self.fd = fd }

    func retain() { users += 1 }

    func release() {
        users -= 1
        if users == 0 { Glibc.close(fd) }
    }
}
