import LatchkeyMetrics
import LatchkeyNet
import LatchkeyTLS

/// Idle keep-alive upstream connections of one event loop, per endpoint.
///
/// One pool per loop: a connection is only ever used on the loop that created it, so the pool needs
/// no lock and reuse never hops queues. Idle connections are closed after `idleTimeout`, on EOF, and
/// beyond `maxIdlePerEndpoint` (oldest first).
final class UpstreamPool: @unchecked Sendable {  // confined to `loop`
    private struct Idle {
        let connection: UpstreamConnection
        let timer: LoopTimer
    }

    let loop: EventLoop
    var maxIdlePerEndpoint: Int
    var idleTimeout: Duration
    private var idle: [PoolKey: [Idle]] = [:]

    /// Endpoint plus the TLS context identity: the same host with other TLS settings is another pool.
    struct PoolKey: Hashable {
        let endpoint: UpstreamEndpoint
        let tls: ObjectIdentifier?
    }

    /// Upstream connections open from this process (the exchanges' connections count themselves in).
    let openConnections: Gauge?
    /// The proxy's listeners, which no upstream connection may reach (nil in tests without a server).
    let ownListeners: OwnListeners?

    init(
        loop: EventLoop, maxIdlePerEndpoint: Int, idleTimeout: Duration, openConnections: Gauge? = nil,
        ownListeners: OwnListeners? = nil
    ) {
        self.loop = loop
        self.ownListeners = ownListeners
        self.openConnections = openConnections
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
        self.idleTimeout = idleTimeout
    }

    /// An idle connection for `endpoint`, most recently used first; nil when none.
    func takeIdle(endpoint: UpstreamEndpoint, tls: TLSClientContext?) -> UpstreamConnection? {
        let key = PoolKey(endpoint: endpoint, tls: tls.map(ObjectIdentifier.init))
        // In place (`idle[key]?.…`): a copy of the list per request made this O(idle connections).
        while let entry = idle[key]?.popLast() {
            forget(entry)
            if !entry.connection.isClosed { return entry.connection }
        }
        return nil
    }

    /// Returns a connection whose last exchange completed cleanly. One that is not reusable (bytes after the
    /// response, a switched protocol, closed) is closed instead: it must never answer another request.
    ///
    /// The idle timer and the close hook hold the connection strongly, not weakly (a weak reference gives an
    /// object a side table, and every retain and release of it then takes the slow path): `forget` breaks
    /// both whenever the entry leaves the pool. The pool itself lives as long as its loop.
    func release(_ connection: UpstreamConnection, tls: TLSClientContext?) {
        guard connection.isReusable, maxIdlePerEndpoint > 0 else {
            connection.close()
            return
        }
        let key = PoolKey(endpoint: connection.endpoint, tls: tls.map(ObjectIdentifier.init))
        connection.handler = nil
        let timer = loop.schedule(after: idleTimeout) { [unowned self] in
            self.remove(connection, key: key)
            connection.close()
        }
        connection.onIdleClose = { [unowned self] in self.remove(connection, key: key) }
        idle[key, default: []].append(Idle(connection: connection, timer: timer))
        if let count = idle[key]?.count, count > maxIdlePerEndpoint, let oldest = idle[key]?.removeFirst() {
            forget(oldest)
            oldest.connection.close()
        }
    }

    /// Cancels the entry's timer and close hook, which hold its connection.
    private func forget(_ entry: Idle) {
        entry.timer.cancel()
        entry.connection.onIdleClose = nil
    }

    private func remove(_ connection: UpstreamConnection, key: PoolKey) {
        guard let index = idle[key]?.firstIndex(where: { $0.connection === connection }),
            let entry = idle[key]?.remove(at: index)
        else { return }
        forget(entry)
        if idle[key]?.isEmpty == true { idle[key] = nil }
    }

    /// Closes every idle connection (shutdown, reload of limits).
    func closeAll() {
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        for entry in all {
            forget(entry)
            entry.connection.close()
        }
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}
