import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking TCP connection driven by its loop's readiness reports (see `FDWatch`).
///
/// Created either from an accepted socket or as an outgoing connection (resolve, then try each
/// address until one connects, all within `connectTimeout`). The file descriptor is closed only once
/// the loop's watch has let go of it.
public final class TCPConnection: ByteStream, FDEventHandler, EndOfTurnFlush, @unchecked Sendable {  // confined to `loop`
    public let loop: EventLoop
    public var delegate: (any ByteStreamDelegate)?
    public private(set) var pendingWriteBytes = 0
    /// The peer's address once connected or accepted.
    public private(set) var remoteAddress: SocketAddress?

    private enum State { case idle, resolving, connecting, open, closed }
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var state: State
    private var fd: Int32 = -1
    private var readingPaused = false
    private var reachedEOF = false
    private var shutdownAfterFlush = false
    /// Bytes accepted by `write` and not yet sent, from `outboundOffset` on.
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var outbound: [UInt8] = []
    @exclusivity(unchecked) private var outboundOffset = 0
    private var flushScheduled = false

    private let connectHost: String
    private let connectPort: Int
    private let connectTimeout: Duration
    private let admission: (@Sendable (SocketAddress) -> String?)?
    private var candidates: [SocketAddress] = []
    private var lastConnectError = ""
    private var connectTimer: LoopTimer?

    /// Runs once when the connection closes (the listener's count of open connections).
    private var onClose: (@Sendable () -> Void)?

    /// Wraps a socket returned by `accept` (already non-blocking). Call `start()` on `loop`. `onClose` runs
    /// once, on the loop, when the connection closes.
    public init(acceptedFD: Int32, loop: EventLoop, onClose: (@Sendable () -> Void)? = nil) {
        self.loop = loop
        self.onClose = onClose
        self.fd = acceptedFD
        self.state = .open
        self.connectHost = ""
        self.connectPort = 0
        self.connectTimeout = .zero
        self.admission = nil
        Socket.setNoDelay(acceptedFD)
        self.remoteAddress = Socket.peerAddress(acceptedFD)
    }

    /// Prepares an outgoing connection to `host:port`; `start()` resolves and connects.
    ///
    /// `admission`, when given, is asked about every resolved address before it is tried: a non-nil answer
    /// (the reason) skips the address; when every address is skipped the connection fails with
    /// `destinationRefused`. The check is on the address actually connected to, not the name.
    public init(
        connectingTo host: String, port: Int, loop: EventLoop, connectTimeout: Duration,
        admission: (@Sendable (SocketAddress) -> String?)? = nil
    ) {
        self.loop = loop
        self.state = .idle
        self.connectHost = host
        self.connectPort = port
        self.connectTimeout = connectTimeout
        self.admission = admission
    }

    public func start() {
        loop.assertInLoop()
        switch state {
        case .open:
            startWatching()
            updateReading()
            delegate?.streamDidBecomeReady(self)
        case .idle:
            state = .resolving
            // Strong captures, not weak (a weak reference puts every retain and release of this connection on
            // the slow path): the timer is cancelled once connected or closed, and the resolver answers once.
            connectTimer = loop.schedule(after: connectTimeout) { [self] in connectTimedOut() }
            Resolver.resolve(host: connectHost, port: connectPort, on: loop) { [self] result in resolved(result) }
        default:
            break
        }
    }

    // MARK: Connecting

    private func resolved(_ result: Result<[SocketAddress], NetError>) {
        guard state == .resolving else { return }
        switch result {
        case .success(let addresses):
            candidates = addresses
            if let admission {
                var refusals: [String] = []
                candidates = addresses.filter { address in
                    guard let reason = admission(address) else { return true }
                    refusals.append(reason)
                    return false
                }
                if candidates.isEmpty, let first = refusals.first {
                    fail(NetError(.destinationRefused, "\(connectHost):\(connectPort) refused: \(first)"))
                    return
                }
            }
            connectNextCandidate()
        case .failure(let error):
            fail(error)
        }
    }

    private func connectNextCandidate() {
        guard !candidates.isEmpty else {
            fail(NetError(.connectFailed, "connect to \(connectHost):\(connectPort) failed: \(lastConnectError)"))
            return
        }
        let address = candidates.removeFirst()
        do {
            fd = try Socket.makeStream(family: address.family)
        } catch {
            fail(error)
            return
        }
        Socket.setNoDelay(fd)
        remoteAddress = address
        let result = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if result == 0 {
            connectionEstablished()
            return
        }
        let code = errno
        guard code == EINPROGRESS else {
            lastConnectError = Socket.errnoText(code)
            Glibc.close(fd)
            fd = -1
            connectNextCandidate()
            return
        }
        state = .connecting
        startWatching()
        armWriting(true)
    }

    /// Writable while connecting: the connect finished one way or the other.
    private func finishConnect() {
        let code = Socket.pendingError(fd)
        guard code == 0 else {
            lastConnectError = Socket.errnoText(code)
            stopWatching()
            fd = -1
            state = .resolving
            connectNextCandidate()
            return
        }
        connectionEstablished()
    }

    private func connectionEstablished() {
        connectTimer?.cancel()
        connectTimer = nil
        state = .open
        if watch == nil { startWatching() }
        updateReading()
        armWriting(false)
        delegate?.streamDidBecomeReady(self)
        if state == .open, !outbound.isEmpty { flush() }  // what was written while connecting
    }

    private func connectTimedOut() {
        guard state == .resolving || state == .connecting else { return }
        fail(NetError(.connectTimeout, "connect to \(connectHost):\(connectPort) timed out after \(connectTimeout)"))
    }

    // MARK: Watching the descriptor
    //
    // The loop reports readiness once per change (see `FDWatch`), so handlers drain until EAGAIN. Reading is
    // wanted while the connection is open, not paused and before EOF; writing while output waits for room
    // or a connect is in progress.

    private var watch: (any FDWatch)?
    private var readWanted = false
    private var writeWanted = false

    private func startWatching() {
        watch = loop.watch(fd: fd, handler: self)
    }

    /// Stops watching and closes the descriptor (the watch closes it once it is safe to).
    private func stopWatching() {
        readWanted = false
        writeWanted = false
        if let watch { watch.close() } else if fd >= 0 { Glibc.close(fd) }
        watch = nil
    }

    private func updateReading() {
        readWanted = state == .open && !readingPaused && !reachedEOF
        watch?.setInterest(read: readWanted, write: writeWanted)
    }

    private func armWriting(_ want: Bool) {
        guard want != writeWanted else { return }
        writeWanted = want
        watch?.setInterest(read: readWanted, write: writeWanted)
    }

    // MARK: I/O

    /// Reads until the socket would block: readiness is reported once per change (`FDWatch`), not again for
    /// data left unread (seen with Dispatch: a 1 MiB echo stalled at ~900 KB reading one slice per event).
    /// On epoll a short read already means the socket is empty (`FDWatch.shortReadDrains`), which saves the
    /// read that would only say EAGAIN. Stops early when the delegate pauses reading or closes; turning
    /// reading back on reports what is left.
    ///
    /// Fairness: after `readsPerTurn` full reads the rest waits for a turn queued behind the loop's other work
    /// (timers, other connections); a peer sending as fast as it is read would otherwise hold the loop.
    func descriptorIsReadable() {
        let buffer = loop.readBuffer
        var turns = Self.readsPerTurn
        while state == .open, readWanted {
            // recv, not read: a socket's read goes through the VFS first (file position lock, permission
            // and area checks), about 1% of the proxy's CPU under load in `perf` for two reads a request.
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count > 0 {
                let drained = count < buffer.count && watch?.shortReadDrains == true
                // Lent: the loop's read buffer, which no other connection reads into before this call returns.
                delegate?.stream(self, didReadInPlace: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                if drained { return }
                turns -= 1
                if turns == 0 {
                    loop.execute { [self] in
                        if state == .open, readWanted { descriptorIsReadable() }
                    }
                    return
                }
            } else if count == 0 {
                reachedEOF = true
                updateReading()
                delegate?.streamDidReachEOF(self)
                return
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return }
                fail(NetError(.reset, "read: \(Socket.errnoText(code))"))
                return
            }
        }
    }

    /// Reads (up to 64 KiB each) one readiness event may do before yielding the loop.
    static let readsPerTurn = 16

    func descriptorIsWritable() {
        switch state {
        case .connecting: finishConnect()
        case .open: flush()
        default: armWriting(false)
        }
    }

    public func write(_ bytes: [UInt8]) {
        loop.assertInLoop()
        guard !bytes.isEmpty, state != .closed, !shutdownAfterFlush else { return }
        if outbound.isEmpty {
            if bytes.count <= outbound.capacity {
                // A message that fits the kept buffer is copied into it, and the caller keeps its array for
                // its next message: adopting it freed the kept buffer, and the caller allocated anew.
                outbound.append(contentsOf: bytes)
            } else {
                outbound = bytes  // no copy: the caller's array is adopted
            }
            outboundOffset = 0
        } else {
            if outboundOffset >= Self.compactionThreshold {
                outbound.removeFirst(outboundOffset)
                outboundOffset = 0
            }
            outbound.append(contentsOf: bytes)
        }
        pendingWriteBytes += bytes.count
        scheduleFlush()
    }

    /// The writer's array becomes the stream's buffer when nothing is waiting to be sent (the usual case: one
    /// message per turn), and the writer gets the stream's emptied buffer back: no copy, and one array
    /// emptied per message instead of two (each `removeAll(keepingCapacity:)` is about 80 instructions).
    public func write(taking bytes: inout [UInt8]) {
        loop.assertInLoop()
        guard outbound.isEmpty, !bytes.isEmpty, state != .closed, !shutdownAfterFlush else {
            write(bytes)
            Self.recycle(&bytes)
            return
        }
        swap(&outbound, &bytes)
        outboundOffset = 0
        pendingWriteBytes += outbound.count
        scheduleFlush()
    }

    /// Output is sent once per loop turn (epoll) or at once (Dispatch): a head and a body written in the
    /// same turn leave in one `send`.
    private func scheduleFlush() {
        guard state == .open, !writeWanted, !flushScheduled else { return }
        flushScheduled = true
        loop.flushAtEndOfTurn(self)
    }

    public func flushAtEndOfTurn() {
        flushScheduled = false
        if state == .open, !writeWanted { flush() }
    }

    /// Above this many bytes already sent from the front of `outbound`, appending first drops them.
    private static let compactionThreshold = 64 * 1024
    /// Output buffers up to this capacity are kept for the next message; larger ones are freed. Writers keep
    /// theirs to the same size (`ByteStream.recycle`), so the buffers `write(taking:)` exchanges stay small.
    public static let retainedCapacity = 4 * 1024

    private func flush() {
        while outboundOffset < outbound.count {
            let remaining = outbound.count - outboundOffset
            let sent = outbound.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + outboundOffset, remaining, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    armWriting(true)
                    return
                }
                fail(NetError(.reset, "write: \(Socket.errnoText(code))"))
                return
            }
            pendingWriteBytes -= sent
            outboundOffset += sent
        }
        if outbound.capacity <= Self.retainedCapacity {
            outbound.removeAll(keepingCapacity: true)
        } else {
            outbound = []
        }
        outboundOffset = 0
        armWriting(false)
        if shutdownAfterFlush { Glibc.shutdown(fd, Int32(SHUT_WR)) }
        delegate?.streamDidDrainWrites(self)
    }

    public func setReadingPaused(_ paused: Bool) {
        loop.assertInLoop()
        readingPaused = paused
        updateReading()
    }

    public func shutdownWriting() {
        loop.assertInLoop()
        guard state != .closed, !shutdownAfterFlush else { return }
        shutdownAfterFlush = true
        if state == .open, outbound.isEmpty { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    public func close() {
        loop.assertInLoop()
        // What was written in this turn has not been tried yet (the flush waits for the turn's end): try once,
        // without waiting, as an immediate write would have.
        if state == .open, flushScheduled, !writeWanted { flush() }
        finish(error: nil)
    }

    private func fail(_ error: NetError) { finish(error: error) }

    private func finish(error: NetError?) {
        guard state != .closed else { return }
        state = .closed
        connectTimer?.cancel()
        connectTimer = nil
        if fd >= 0 { stopWatching() }
        fd = -1
        outbound.removeAll()
        pendingWriteBytes = 0
        onClose?()
        onClose = nil
        let delegate = self.delegate
        self.delegate = nil
        delegate?.stream(self, didCloseWith: error)
    }
}
