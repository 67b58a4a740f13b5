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
    private var readRunning = false
    private var readActivated = false
    private var writeRunning = false
    private var writeActivated = false
    private var readingPaused = false
    private var reachedEOF = false
    private var shutdownAfterFlush = false
    private var outbound: [[UInt8]] = []
    private var outboundOffset = 0

    private let connectHost: String
    private let connectPort: Int
    private let connectTimeout: Duration
    private var candidates: [SocketAddress] = []
    private var lastConnectError = ""
    private var connectTimer: LoopTimer?

    /// Wraps a socket returned by `accept` (already non-blocking). Call `start()` on `loop`.
    public init(acceptedFD: Int32, loop: EventLoop) {
        self.loop = loop
        self.fd = acceptedFD
        self.state = .open
        self.connectHost = ""
        self.connectPort = 0
        self.connectTimeout = .zero
        Socket.setNoDelay(acceptedFD)
        self.remoteAddress = Socket.peerAddress(acceptedFD)
    }

    /// Prepares an outgoing connection to `host:port`; `start()` resolves and connects.
    public init(connectingTo host: String, port: Int, loop: EventLoop, connectTimeout: Duration) {
        self.loop = loop
        self.state = .idle
        self.connectHost = host
        self.connectPort = port
        self.connectTimeout = connectTimeout
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
        if readSource == nil { makeSources() }
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

    private func makeSources() {
        let fd = self.fd
        let closer = DescriptorCloser(fd: fd, users: 2)
        let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
        read.setEventHandler { [self] in handleReadable() }
        read.setCancelHandler { closer.release() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
        write.setEventHandler { [self] in handleWritable() }
        write.setCancelHandler { closer.release() }
        readSource = read
        writeSource = write
        readRunning = false
        readActivated = false
        writeRunning = false
        writeActivated = false
    }

    /// Cancels both sources; the descriptor is closed by the last cancel handler. Inactive sources are
    /// activated and suspended ones resumed after cancelling, or their cancel handlers would never run.
    private func cancelSources() {
        if let read = readSource {
            read.cancel()
            if !readActivated { read.activate() } else if !readRunning { read.resume() }
        }
        if let write = writeSource {
            write.cancel()
            if !writeActivated { write.activate() } else if !writeRunning { write.resume() }
        }
        if readSource == nil, fd >= 0 { Glibc.close(fd) }
        readSource = nil
        writeSource = nil
    }

    private func updateReading() {
        guard let read = readSource else { return }
        let want = state == .open && !readingPaused && !reachedEOF
        if want, !readRunning {
            if readActivated { read.resume() } else { read.activate() }
            readActivated = true
            readRunning = true
        } else if !want, readRunning {
            read.suspend()
            readRunning = false
        }
    }

    /// Write sources are level-triggered: run one only while output is pending, or it spins.
    private func armWriting(_ want: Bool) {
        guard let write = writeSource else { return }
        if want, !writeRunning {
            if writeActivated { write.resume() } else { write.activate() }
            writeActivated = true
            writeRunning = true
        } else if !want, writeRunning {
            write.suspend()
            writeRunning = false
        }
    }

    // MARK: I/O

    private func handleReadable() {
        guard state == .open else { return }
        let buffer = loop.readBuffer
        let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if count > 0 {
            delegate?.stream(self, didRead: Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count])))
        } else if count == 0 {
            reachedEOF = true
            updateReading()
            delegate?.streamDidReachEOF(self)
        } else {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            fail(NetError(.reset, "read: \(Socket.errnoText(code))"))
        }
    }

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
        let delegate = self.delegate
        self.delegate = nil
        delegate?.stream(self, didCloseWith: error)
    }
}

/// Closes a descriptor once every source using it has run its cancel handler.
private final class DescriptorCloser: @unchecked Sendable {  // only touched from cancel handlers on one queue
    private let fd: Int32
    private var users: Int

    init(fd: Int32, users: Int) {
        self.fd = fd
        self.users = users
    }

    func release() {
        users -= 1
        if users == 0 { Glibc.close(fd) }
    }
}
