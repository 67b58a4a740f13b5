import Dispatch
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import Logging
import Synchronization

/// The running proxy: listeners, event loops, per-loop upstream pools and the current runtime.
///
/// The runtime (config snapshot) is swapped atomically on reload; each request reads it once when its
/// head arrives and keeps that snapshot to the end.
public final class ProxyServer: @unchecked Sendable {  // mutable fields guarded: `state` by its Mutex, listeners set once in start()
    /// Addresses actually bound (ports resolved when 0 was configured).
    public struct BoundAddresses: Sendable {
        public let proxy: SocketAddress
        public let admin: SocketAddress?
    }

    public let group: EventLoopGroup
    /// The bound proxy and admin addresses, which no outgoing connection may reach. The composition root
    /// hands the token client the same instance, so token requests never reach them either.
    public let ownListeners: OwnListeners
    /// The process's scrubber: error bodies sent to clients quote upstream and provider text.
    public let scrubber: SecretScrubber
    let logger: Logger
    let accessLog: AccessLog
    private let pools: [ObjectIdentifier: UpstreamPool]
    private let registries: [ObjectIdentifier: ClientRegistry]
    private let draining = Mutex(false)
    private let state: Mutex<ProxyRuntime>
    private let openClients = Mutex(0)
    /// The admin listener's bound address (after `start()`), for URLs it hands out (OAuth redirect URI).
    public private(set) var adminAddress: SocketAddress?
    private var proxyListener: TCPListener?
    private var adminListener: TCPListener?

    /// Creates the server on `loopCount` event loops using `backend`; `EventLoopPlan` decides both from
    /// `workers:` and `event_loop:` and the CPUs the process may use.
    public init(
        runtime: ProxyRuntime, logger: Logger, scrubber: SecretScrubber, ownListeners: OwnListeners,
        loopCount: Int, backend: EventLoopBackend = .platformDefault
    ) {
        group = EventLoopGroup(count: loopCount, backend: backend)
        runtime.metrics.recordEventLoops(count: group.loops.count, backend: group.backend.rawValue)  // as running
        self.logger = logger
        self.scrubber = scrubber
        self.ownListeners = ownListeners
        accessLog = AccessLog(logger: logger, loops: group.loops)
        state = Mutex(runtime)
        let limits = runtime.configuration.limits
        var pools: [ObjectIdentifier: UpstreamPool] = [:]
        for loop in group.loops {
            pools[ObjectIdentifier(loop)] = UpstreamPool(
                loop: loop, maxIdlePerEndpoint: limits.maxIdlePerUpstream, idleTimeout: .milliseconds(limits.idleTimeoutMs),
                openConnections: runtime.metrics.upstreamConnectionsOpen, ownListeners: ownListeners)
        }
        self.pools = pools
        var registries: [ObjectIdentifier: ClientRegistry] = [:]
        for loop in group.loops { registries[ObjectIdentifier(loop)] = ClientRegistry() }
        self.registries = registries
    }

    /// The runtime new requests use.
    public var runtime: ProxyRuntime { state.withLock { $0 } }

    /// Installs a new runtime for requests that start from now on (and the new connection caps).
    public func replaceRuntime(_ runtime: ProxyRuntime) {
        state.withLock { $0 = runtime }
        let limits = runtime.configuration.limits
        proxyListener?.setMaxConnections(limits.maxConnections)
        adminListener?.setMaxConnections(limits.adminMaxConnections)
    }

    /// Number of open client connections.
    public var openClientCount: Int { openClients.withLock { $0 } }

    /// Binds both listeners and starts accepting; connections on the admin listener (when the config has
    /// one) go to `admin`.
    public func start(admin adminHandler: any AdminConnectionHandler) throws -> BoundAddresses {
        let configuration = runtime.configuration
        let limits = configuration.limits
        let proxy = try TCPListener(
            host: configuration.listen.host, port: configuration.listen.port, group: group,
            maxConnections: limits.maxConnections
        ) { [self] connection in
            accept(connection)
        }
        proxy.onPause = { [self] reason, open in acceptPaused(listener: "proxy", reason: reason, open: open) }
        var admin: TCPListener?
        if let address = configuration.admin {
            admin = try TCPListener(
                host: address.host, port: address.port, group: group, maxConnections: limits.adminMaxConnections
            ) { connection in
                adminHandler.serve(connection)
            }
            admin?.onPause = { [self] reason, open in acceptPaused(listener: "admin", reason: reason, open: open) }
        }
        DescriptorBudget.warnIfShort(maxConnections: limits.maxConnections, logger: logger)
        proxyListener = proxy
        adminListener = admin
        adminAddress = admin?.localAddress
        ownListeners.add(proxy.localAddress)
        if let admin { ownListeners.add(admin.localAddress) }
        proxy.start()
        admin?.start()
        return BoundAddresses(proxy: proxy.localAddress, admin: admin?.localAddress)
    }

    /// Stops accepting on both listeners.
    public func stopListening() {
        proxyListener?.stop()
        adminListener?.stop()
    }

    /// A listener stopped accepting (once per episode): at its cap, or out of descriptors.
    private func acceptPaused(listener: String, reason: AcceptGate.PauseReason, open: Int) {
        runtime.metrics.acceptPauses.increment([listener, reason.rawValue])
        switch reason {
        case .connectionCap:
            logger.warning(
                "\(listener) listener at its connection cap (\(open) open): new connections wait in the backlog until one closes",
                metadata: [LogKey.outcome: "max_connections"])
        case .outOfDescriptors:
            logger.warning(
                "\(listener) listener out of file descriptors (\(open) connections open): accepting paused, retrying as connections close",
                metadata: [LogKey.outcome: "out_of_descriptors"])
        }
    }

    private func accept(_ connection: TCPConnection) {
        let id = ObjectIdentifier(connection.loop)
        guard let pool = pools[id], let registry = registries[id] else {
            connection.close()  // never dropped unclosed: that would leak its descriptor and its slot in the cap
            return
        }
        openClients.withLock { $0 += 1 }
        runtime.metrics.clientConnectionsOpen.increment()
        let client = ClientConnection(stream: connection, server: self, pool: pool)
        registry.clients[ObjectIdentifier(client)] = client
        client.start()
        if isDraining { client.drain() }
    }

    /// `successor` takes the place of `previous` in the loop's registry, over the same socket: an intercepted
    /// CONNECT (over TLS), or HTTP/2 (after the preface or ALPN `h2`). It is the same client connection for
    /// the count and the metrics.
    func handOff(from previous: any ServedConnection, to successor: any ServedConnection) {
        let registry = registries[ObjectIdentifier(previous.loop)]
        registry?.clients[ObjectIdentifier(previous)] = nil
        registry?.clients[ObjectIdentifier(successor)] = successor
    }

    func clientClosed(_ client: any ServedConnection) {
        registries[ObjectIdentifier(client.loop)]?.clients[ObjectIdentifier(client)] = nil
        openClients.withLock { $0 -= 1 }
        runtime.metrics.clientConnectionsOpen.decrement()
    }

    /// Whether a graceful shutdown is under way: finished exchanges close their connections.
    var isDraining: Bool { draining.withLock { $0 } }

    /// Graceful shutdown: stop accepting (new connections are refused), close idle client connections, let
    /// requests in flight finish, and call `completion` once every client connection is gone or `grace`
    /// has passed, whichever comes first. `completion` gets the number of connections still open.
    public func drain(grace: Duration, completion: @escaping @Sendable (Int) -> Void) {
        draining.withLock { $0 = true }
        stopListening()
        for loop in group.loops {
            let registry = registries[ObjectIdentifier(loop)]
            loop.execute {
                for client in registry?.clients.values.map({ $0 }) ?? [] { client.drain() }
            }
        }
        let deadline = ContinuousClock.now + grace
        let poll = DispatchQueue(label: "latchkey.drain")
        let accessLog = self.accessLog
        @Sendable func check() {
            let open = openClientCount
            if open == 0 || ContinuousClock.now >= deadline {
                accessLog.flush { completion(open) }  // the batched access-log lines go out before the exit
                return
            }
            poll.asyncAfter(deadline: .now() + .milliseconds(20), execute: check)
        }
        poll.async(execute: check)
    }
}

/// The client connections of one loop, touched only on that loop, so a drain can reach idle ones.
final class ClientRegistry: @unchecked Sendable {  // confined to its loop
    var clients: [ObjectIdentifier: any ServedConnection] = [:]
}
