import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket. Accepted connections are spread round-robin over an `EventLoopGroup`
/// and handed to `onAccept` on their own loop, not yet started.
public final class TCPListener: @unchecked Sendable {  // mutable state only touched on `acceptQueue`
    /// The bound address (with the real port when 0 was asked for).
    public let localAddress: SocketAddress
    private let fd: Int32
    private let acceptQueue: DispatchQueue
    private let source: DispatchSourceRead
    private let group: EventLoopGroup
    private var started = false
    private var stopped = false

    /// Binds and listens on `host:port` (host an IP literal or `localhost`).
    public init(
        host: String, port: Int, group: EventLoopGroup, backlog: Int32 = 1024,
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
        self.localAddress = Socket.localAddress(fd) ?? address
        self.acceptQueue = DispatchQueue(label: "latchkey.accept.\(port)")
        self.source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [group] in
            // Accept everything pending; each connection goes to the next loop.
            while let client = Socket.acceptNonBlocking(fd) {
                let loop = group.next()
                loop.execute {
                    let connection = TCPConnection(acceptedFD: client, loop: loop)
                    onAccept(connection)
                }
            }
        }
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
        acceptQueue.sync {
            guard !stopped else { return }
            stopped = true
            source.cancel()
            // An inactive source never runs its cancel handler (which closes the socket), and releasing
            // one traps: activate it after cancelling.
            if !started { source.activate() }
        }
    }

    deinit { stop() }
}
