import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket. Accepted connections are spread round-robin over an `EventLoopGroup`
/// and handed to `onAccept` on their own loop, not yet started.
///
/// Bounded (see `AcceptGate`): at `maxConnections` open connections, or when `accept` runs out of
/// descriptors, the accept source is suspended (new connections wait in the backlog; nothing spins) and
/// resumed when an accepted connection closes, or for descriptors after `retryInterval` at the latest.
public final class TCPListener: @unchecked Sendable {  // mutable state only touched on `acceptQueue`
    /// The bound address (with the real port when 0 was asked for).
    public let localAddress: SocketAddress
    /// Called on the accept queue once per pause episode (see `AcceptGate.shouldReportPause`).
    public var onPause: (@Sendable (AcceptGate.PauseReason, Int) -> Void)?
    /// How long accepting pauses after running out of descriptors before it tries again.
    public var retryInterval: DispatchTimeInterval = .milliseconds(250)
    private let fd: Int32
    private let acceptQueue: DispatchQueue
    private let source: DispatchSourceRead
    private let group: EventLoopGroup
    private let onAccept: @Sendable (TCPConnection) -> Void
    private var gate: AcceptGate
    private var suspended = false
    private var retryScheduled = false
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
        self.onAccept = onAccept
        self.gate = AcceptGate(maxConnections: maxConnections)
        self.localAddress = Socket.localAddress(fd) ?? address
        self.acceptQueue = DispatchQueue(label: "latchkey.accept.\(port)")
        self.source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [unowned self] in acceptPending() }
        source.setCancelHandler { Glibc.close(fd) }
    }

    /// Starts accepting.
    public func start() {
        acceptQueue.sync {
            guard !started, !stopped else { return }
            started = true
            source.activate()
        }
    }

    /// Stops accepting and closes the listening socket. Established connections are unaffected.
    public func stop() {
        acceptQueue.sync { stopOnQueue() }
    }

    private func stopOnQueue() {
        guard !stopped else { return }
        stopped = true
        source.cancel()
        // An inactive source never runs its cancel handler (which closes the socket), and releasing
        // one traps, as does releasing a suspended one: activate or resume it after cancelling.
        if !started { source.activate() }
        if suspended {
            suspended = false
            source.resume()
        }
    }

    /// A new connection cap, e.g. after a reload. Any thread.
    public func setMaxConnections(_ value: Int) {
        acceptQueue.async { [self] in
            gate.setMaxConnections(value)
            resumeIfOpen()
        }
    }

    /// Open connections accepted here (read on the accept queue; for tests and metrics).
    public var openConnections: Int { acceptQueue.sync { gate.open } }

    // MARK: Accepting (on `acceptQueue`)

    private func acceptPending() {
        while gate.isOpen, !stopped {
            switch Socket.accept(fd) {
            case .accepted(let client):
                gate.accepted()
                let loop = group.next()
                let onAccept = self.onAccept
                let closed: @Sendable () -> Void = { [weak self] in self?.connectionClosed() }
                loop.execute {
                    onAccept(TCPConnection(acceptedFD: client, loop: loop, onClose: closed))
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

    /// Suspends the source: a level-triggered listening socket with a pending connection would otherwise
    /// fire again at once (the spin seen at EMFILE).
    private func pause() {
        guard !stopped, let reason = gate.pauseReason else { return }
        if !suspended {
            suspended = true
            source.suspend()
        }
        if gate.shouldReportPause() { onPause?(reason, gate.open) }
    }

    private func resumeIfOpen() {
        guard gate.isOpen, suspended, !stopped else { return }
        suspended = false
        source.resume()
        // Edge-style reporting (FIELD-NOTES): a resumed source does not report connections that arrived
        // while it was suspended, so look once ourselves.
        acceptPending()
    }

    private func scheduleRetry() {
        guard !retryScheduled else { return }
        retryScheduled = true
        acceptQueue.asyncAfter(deadline: .now() + retryInterval) { [weak self] in
            guard let self else { return }
            retryScheduled = false
            gate.retry()
            resumeIfOpen()
        }
    }

    private func connectionClosed() {
        acceptQueue.async { [self] in
            gate.closed()
            resumeIfOpen()
        }
    }

    /// Not `stop()`: the last reference may go inside a block running on `acceptQueue`, where a `sync` onto
    /// it would trap; in `deinit` no other reference exists, so the state is this thread's alone.
    deinit { stopOnQueue() }
}
