import LatchkeyMetrics
import LatchkeyNet
import LatchkeyTLS

/// Idle keep-alive upstream connections of one event loop, per endpoint.
///
/// One pool per loop: a connection is only ever used on the loop that created it, so the pool needs
/// no lock and reuse never hops queues. Idle connections are closed after `idleTimeout`, on EOF, and
/// beyond `maxIdlePerEndpoint` (oldest first).
///
/// Expiry is one sweep timer per pool, armed for the oldest idle connection, not a timer per release:
/// every request returns its connection here, and a timer each was an allocation and two heap operations
/// per request. Lists are oldest first, so a sweep drops from the front.
final class UpstreamPool: @unchecked Sendable {  // confined to `loop`
    private struct Idle {
        let connection: UpstreamConnection
        let since: ContinuousClock.Instant
    }

    private var sweep: LoopTimer?

    let loop: EventLoop
    var maxIdlePerEndpoint: Int
    var idleTimeout: Duration
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var idle: [PoolKey: [Idle]] = [:]
    /// HTTP/2 connections per key, busy or idle, until GOAWAY or close (see `UpstreamPool+HTTP2`).
    var http2Connections: [PoolKey: [HTTP2UpstreamConnection]] = [:]
    /// What each https upstream chose by ALPN on its last new connection: true for h2 (`http2: auto`).
    var speaksHTTP2: [PoolKey: Bool] = [:]
    /// The SETTINGS_MAX_CONCURRENT_STREAMS the last HTTP/2 connection to a key was given: the limit a new
    /// connection to it assumes until its own SETTINGS arrive (`HTTP2UpstreamConnection.hasRoom`).
    var http2StreamLimits: [PoolKey: UInt32] = [:]

    /// Endpoint plus the TLS context identity: the same host with other TLS settings is another pool.
    struct PoolKey: Hashable {
        let endpoint: UpstreamEndpoint
        let tls: ObjectIdentifier?
    }

    /// Where an idle connection sits: held by the connection while it is in the pool.
    struct Membership {
        unowned let pool: UpstreamPool
        let key: PoolKey
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
    /// The pool's list holds the connection; the connection's `Membership` names the pool (unowned: the pool
    /// lives as long as its loop) and the key, and `forget` ends it whenever the entry leaves the pool.
    func release(_ connection: UpstreamConnection, tls: TLSClientContext?) {
        guard connection.isReusable, maxIdlePerEndpoint > 0 else {
            connection.close()
            return
        }
        let key = PoolKey(endpoint: connection.endpoint, tls: tls.map(ObjectIdentifier.init))
        connection.handler = nil
        connection.idleMembership = Membership(pool: self, key: key)
        let evicted: Idle? = modifyList(for: key) { list in
            list.append(Idle(connection: connection, since: .now))
            return list.count > maxIdlePerEndpoint ? list.removeFirst() : nil
        }
        if let evicted {
            forget(evicted)
            evicted.connection.close()
        }
        if sweep == nil { armSweep(after: idleTimeout) }
    }

    /// One lookup for a change to `key`'s list, made in place (a copy of the list per request made this
    /// O(idle connections)).
    private func modifyList<Result>(for key: PoolKey, _ change: (inout [Idle]) -> Result) -> Result {
        change(&idle[key, default: []])
    }

    /// Ends the entry's membership (the connection no longer points back at the pool).
    private func forget(_ entry: Idle) {
        entry.connection.idleMembership = nil
    }

    private func armSweep(after delay: Duration) {
        sweep = loop.schedule(after: delay) { [unowned self] in
            sweep = nil
            closeExpired()
        }
    }

    /// Closes the connections idle for `idleTimeout` or longer, and arms the sweep for the next one due.
    private func closeExpired() {
        let now = ContinuousClock.now
        var nextDue: ContinuousClock.Instant?
        for key in Array(idle.keys) {
            while let oldest = idle[key]?.first, now - oldest.since >= idleTimeout {
                idle[key]?.removeFirst()
                forget(oldest)
                oldest.connection.close()
            }
            if idle[key]?.isEmpty == true { idle[key] = nil }
            if let oldest = idle[key]?.first {
                let due = oldest.since + idleTimeout
                nextDue = min(nextDue ?? due, due)
            }
        }
        if let nextDue { armSweep(after: max(nextDue - now, .milliseconds(1))) }
    }

    /// Removes an idle connection that closed or misbehaved (its membership's call).
    func remove(_ connection: UpstreamConnection, key: PoolKey) {
        guard let index = idle[key]?.firstIndex(where: { $0.connection === connection }),
            let entry = idle[key]?.remove(at: index)
        else { return }
        forget(entry)
        if idle[key]?.isEmpty == true { idle[key] = nil }
    }

    /// Closes every idle connection (shutdown, reload of limits).
    func closeAll() {
        let multiplexed = http2Connections.values.flatMap { $0 }
        http2Connections.removeAll()
        for connection in multiplexed { connection.close() }
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        sweep?.cancel()
        sweep = nil
        for entry in all {
            forget(entry)
            entry.connection.close()
        }
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}
