import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking TCP connection driven by Dispatch read and write sources on its loop's queue.
///
/// Created either from an accepted socket or as an outgoing connection (resolve, then try each
/// address until one connects, all within `connectTimeout`). The file descriptor is closed only once
/// the cancel handlers of both sources have run (FIELD-NOTES: closing earlier races the sources).
public final class TCPConnection: ByteStream, @unchecked Sendable {  // confined to `loop.queue`
    public let loop: EventLoop
    public var delegate: (any ByteStreamDelegate)?
    public private(set) var pendingWriteBytes = 0
    /// The peer's address once connected or accepted.
    public private(set) var remoteAddress: SocketAddress?

    private enum State { case idle, resolving, connecting, open, closed }
    private var state: State
    private var fd: Int32 = -1
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var readingPaused = false
    private var reachedEOF = false
    private var shutdownAfterFlush = false
    private var outbound: [[UInt8]] = []
    private var outboundOffset = 0

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
            makeSources()
            updateReading()
            delegate?.streamDidBecomeReady(self)
        case .idle:
            state = .resolving
            connectTimer = loop.schedule(after: connectTimeout) { [weak self] in self?.connectTimedOut() }
            Resolver.resolve(host: connectHost, port: connectPort, on: loop) { [weak self] result in
                self?.resolved(result)
            }
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
        makeSources()
        armWriting(true)
    }

    /// The write source fired while connecting: the connect finished one way or the other.
    private func finishConnect() {
        let code = Socket.pendingError(fd)
        guard code == 0 else {
            lastConnectError = Socket.errnoText(code)
            cancelSources()
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
        if closer == nil { makeSources() }
        updateReading()
        armWriting(!outbound.isEmpty)
        delegate?.streamDidBecomeReady(self)
        if state == .open, !outbound.isEmpty { flush() }
    }

    private func connectTimedOut() {
        guard state == .resolving || state == .connecting else { return }
        fail(NetError(.connectTimeout, "connect to \(connectHost):\(connectPort) timed out after \(connectTimeout)"))
    }

    // MARK: Sources
    //
    // libdispatch on Linux reports readiness once per change (edge-style): data left unread after an event
    // is not reported again, and a suspended source that is resumed does not re-report what arrived while it
    // was suspended. So handlers drain until EAGAIN, and sources are never suspended: a source exists exactly
    // while its direction is wanted (reading not paused; output pending or a connect in progress) and is
    // cancelled otherwise; a fresh source reports the descriptor's current readiness. The descriptor is
    // closed by `DescriptorCloser` once the connection and every source have let go of it.

    private var closer: DescriptorCloser?

    private func makeSources() {
        closer = DescriptorCloser(fd: fd)
    }

    private func cancelSources() {
        setReadSource(running: false)
        setWriteSource(running: false)
        if let closer { closer.release() } else if fd >= 0 { Glibc.close(fd) }
        closer = nil
    }

    private func updateReading() {
        setReadSource(running: state == .open && !readingPaused && !reachedEOF)
    }

    /// Level-triggered write readiness: a source only while output is pending, or it spins.
    private func armWriting(_ want: Bool) {
        setWriteSource(running: want)
    }

    private func setReadSource(running: Bool) {
        if running, readSource == nil, let closer {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
            closer.retain()
            source.setEventHandler { [self] in handleReadable() }
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
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
            closer.retain()
            source.setEventHandler { [self] in handleWritable() }
            source.setCancelHandler { closer.release() }
            source.activate()
            writeSource = source
        } else if !running, let source = writeSource {
            source.cancel()
            writeSource = nil
        }
    }

    // MARK: I/O

    /// Reads until the socket would block: libdispatch on Linux does not report data left unread after an
    /// event again (seen here: a 1 MiB echo stalled at ~900 KB reading one slice per event). Stops early
    /// when the delegate pauses reading or closes; a new source then reports what is left.
    ///
    /// Fairness: after `readsPerTurn` full reads the rest waits for a turn queued behind the loop's other work
    /// (timers, other connections); a peer sending as fast as it is read would otherwise hold the loop.
    private func handleReadable() {
        let buffer = loop.readBuffer
        var turns = Self.readsPerTurn
        while state == .open, readSource != nil {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count > 0 {
                delegate?.stream(self, didRead: Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count])))
                turns -= 1
                if turns == 0 {
                    loop.execute { [self] in
                        if state == .open, readSource != nil { handleReadable() }
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

    private func handleWritable() {
        switch state {
        case .connecting: finishConnect()
        case .open: flush()
        default: armWriting(false)
        }
    }

    public func write(_ bytes: [UInt8]) {
        loop.assertInLoop()
        guard !bytes.isEmpty, state != .closed, !shutdownAfterFlush else { return }
        outbound.append(bytes)
        pendingWriteBytes += bytes.count
        if state == .open {
            if outbound.count == 1 { flush() } else { armWriting(true) }
        }
    }

    private func flush() {
        while let first = outbound.first {
            let remaining = first.count - outboundOffset
            let sent = first.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + outboundOffset, remaining, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == EINTR {
                    armWriting(true)
                    return
                }
                fail(NetError(.reset, "write: \(Socket.errnoText(code))"))
                return
            }
            pendingWriteBytes -= sent
            if sent == remaining {
                outbound.removeFirst()
                outboundOffset = 0
            } else {
                outboundOffset += sent
                armWriting(true)
                return
            }
        }
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
        finish(error: nil)
    }

    private func fail(_ error: NetError) { finish(error: error) }

    private func finish(error: NetError?) {
        guard state != .closed else { return }
        state = .closed
        connectTimer?.cancel()
        connectTimer = nil
        if fd >= 0 { cancelSources() }
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

/// Closes a descriptor once the connection and every source that used it have let go of it.
private final class DescriptorCloser: @unchecked Sendable {  // retained/released only on the connection's queue
    private let fd: Int32
    private var users = 1

    init(fd: Int32) { self.fd = fd }

    func retain() { users += 1 }

    func release() {
        users -= 1
        if users == 0 { Glibc.close(fd) }
    }
}
