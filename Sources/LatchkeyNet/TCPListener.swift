#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket. Accepted connections are spread round-robin over an `EventLoopGroup`
/// and handed to `onAccept` on their own loop, not yet started.
///
/// The socket is watched by the group's first loop, which accepts; a connection for that loop starts there
/// and then, with no hop, one for another loop hops over once. Bounded (see `AcceptGate`): at
/// `maxConnections` open connections, or when `accept` runs out of descriptors, the listener stops watching
/// for connections (they wait in the backlog; nothing spins) and looks again when an accepted connection
/// closes, or for descriptors after `retryInterval` at the latest.
public final class TCPListener: @unchecked Sendable {  // mutable state confined to `acceptLoop`
    /// The bound address (with the real port when 0 was asked for).
    public let localAddress: SocketAddress
    /// Called on the accept loop once per pause episode (see `AcceptGate.shouldReportPause`).
    public var onPause: (@Sendable (AcceptGate.PauseReason, Int) -> Void)?
    /// How long accepting pauses after running out of descriptors before it tries again.
    public var retryInterval: Duration = .milliseconds(250)
    private let fd: Int32
    private let acceptLoop: EventLoop
    private let group: EventLoopGroup
    private let onAccept: @Sendable (TCPConnection) -> Void
    private var watch: (any FDWatch)?
    private var gate: AcceptGate
    private var retryTimer: LoopTimer?
    private var started = false
    private var stopped = false

    /// Binds and listens on `host:port` (host an IP literal or `localhost`).
    public init(
        host: String, port: Int, group: EventLoopGroup, backlog: Int32 = 1024, maxConnections: Int = Int.max,
        onAccept: @escaping @Sendable (TCPConnection) -> Void
    ) throws(NetError) {
        let literal = host == "localhost" ? "127.0.0.1" : host
        guard let address = SocketAddress(ipLiteral: literal, port: port) else {
            throw NetError(.ioFailed, "listen address must be an IP literal or localhost, got \(host)")
        }
        let fd = try Socket.makeStream(family: address.family)
        Socket.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        let bound = address.withSockAddr { bind(fd, $0, $1) }
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
            let reason = Socket.errnoText()
            Glibc.close(fd)
            throw NetError(.ioFailed, "cannot listen on \(address): \(reason)")
        }
        self.fd = fd
        self.group = group
        self.acceptLoop = group.loops[0]
        self.onAccept = onAccept
        self.gate = AcceptGate(maxConnections: maxConnections)
        self.localAddress = Socket.localAddress(fd) ?? address
    }

    /// Starts accepting.
    public func start() {
        acceptLoop.runAndWait {
            guard !started, !stopped else { return }
            started = true
            watch = acceptLoop.watch(fd: fd, handler: ListenerEvents(listener: self))
            watch?.setInterest(read: true, write: false)
        }
    }

    /// Stops accepting and closes the listening socket. Established connections are unaffected.
    public func stop() {
        acceptLoop.runAndWait { stopOnLoop() }
    }

    private func stopOnLoop() {
        guard !stopped else { return }
        stopped = true
        retryTimer?.cancel()
        retryTimer = nil
        if let watch {
            watch.close()  // closes the socket
        } else {
            Glibc.close(fd)
        }
        watch = nil
    }

    /// A new connection cap, e.g. after a reload. Any thread.
    public func setMaxConnections(_ value: Int) {
        acceptLoop.execute { [self] in
            gate.setMaxConnections(value)
            resumeIfOpen()
        }
    }

    /// Open connections accepted here (read on the accept loop; for tests and metrics).
    public var openConnections: Int { acceptLoop.runAndWait { gate.open } }

    // MARK: Accepting (on `acceptLoop`)

    fileprivate func acceptPending() {
        while gate.isOpen, !stopped {
            switch Socket.accept(fd) {
            case .accepted(let client):
                gate.accepted()
                let loop = group.next()
                let closed: @Sendable () -> Void = { [weak self] in self?.connectionClosed() }
                if loop === acceptLoop {
                    onAccept(TCPConnection(acceptedFD: client, loop: loop, onClose: closed))
                } else {
                    let onAccept = self.onAccept
                    loop.execute { onAccept(TCPConnection(acceptedFD: client, loop: loop, onClose: closed)) }
                }
            case .wouldBlock:
                return
            case .outOfResources:
                gate.exhausted()
                scheduleRetry()
            }
        }
        pause()
    }

    /// Stops watching: a level-triggered report of a pending connection would otherwise repeat at once (the
    /// spin seen at EMFILE).
    private func pause() {
        guard !stopped, let reason = gate.pauseReason else { return }
        watch?.setInterest(read: false, write: false)
        if gate.shouldReportPause() { onPause?(reason, gate.open) }
    }

    private func resumeIfOpen() {
        guard gate.isOpen, started, !stopped else { return }
        // Turning reading back on reports the socket's current state: connections that arrived while paused
        // are accepted then.
        watch?.setInterest(read: true, write: false)
    }

    private func scheduleRetry() {
        guard retryTimer == nil else { return }
        retryTimer = acceptLoop.schedule(after: retryInterval) { [weak self] in
            guard let self else { return }
            retryTimer = nil
            gate.retry()
            resumeIfOpen()
        }
    }

    private func connectionClosed() {
        if acceptLoop.inLoop {
            gate.closed()
            resumeIfOpen()
            return
        }
        acceptLoop.execute { [self] in
            gate.closed()
            resumeIfOpen()
        }
    }

    /// The last reference may go on the accept loop itself or anywhere else; nothing else refers to the
    /// listener then, so its state is this thread's alone.
    deinit {
        guard !stopped else { return }
        guard let watch else {
            Glibc.close(fd)
            return
        }
        if acceptLoop.inLoop {
            watch.close()
        } else {
            let handoff = UncheckedBox(watch)  // nothing else refers to it any more
            acceptLoop.execute { handoff.value.close() }
        }
    }
}

/// Forwards the listening socket's readiness without keeping the listener alive: dropping the last
/// reference to a listener that was never stopped still closes its socket (in `deinit`).
private final class ListenerEvents: FDEventHandler {
    weak var listener: TCPListener?

    init(listener: TCPListener) { self.listener = listener }

    func descriptorIsReadable() { listener?.acceptPending() }

    func descriptorIsWritable() {}
}
