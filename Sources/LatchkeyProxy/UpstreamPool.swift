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
        while var list = idle[key], let entry = list.popLast() {
            idle[key] = list.isEmpty ? nil : list
            entry.timer.cancel()
            entry.connection.onIdleClose = nil
            if !entry.connection.isClosed { return entry.connection }
        }
        return nil
    }

    /// Returns a connection whose last exchange completed cleanly. One that is not reusable (bytes after the
    /// response, a switched protocol, closed) is closed instead: it must never answer another request.
    func release(_ connection: UpstreamConnection, tls: TLSClientContext?) {
        guard connection.isReusable, maxIdlePerEndpoint > 0 else {
            connection.close()
            return
        }
        let key = PoolKey(endpoint: connection.endpoint, tls: tls.map(ObjectIdentifier.init))
        connection.handler = nil
        let timer = loop.schedule(after: idleTimeout) { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.remove(connection, key: key)
            connection.close()
        }
        connection.onIdleClose = { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.remove(connection, key: key)
        }
        var list = idle[key] ?? []
        list.append(Idle(connection: connection, timer: timer))
        if list.count > maxIdlePerEndpoint {
            let oldest = list.removeFirst()
            oldest.timer.cancel()
            oldest.connection.onIdleClose = nil
            oldest.connection.close()
        }
        idle[key] = list
    }

    private func remove(_ connection: UpstreamConnection, key: PoolKey) {
        guard var list = idle[key], let index = list.firstIndex(where: { $0.connection === connection }) else { return }
        list[index].timer.cancel()
        list.remove(at: index)
        idle[key] = list.isEmpty ? nil : list
    }

    /// Closes every idle connection (shutdown, reload of limits).
    func closeAll() {
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        for entry in all {
            entry.timer.cancel()
            entry.connection.onIdleClose = nil
            entry.connection.close()
        }
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}
