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
    fileprivate struct Idle {
        let connection: UpstreamConnection
        /// The loop's time (`EventLoop.now`, monotonic nanoseconds): a plain integer, cheaper to read and to
        /// copy than a clock instant.
        let since: UInt64
    }

    /// One key's idle connections, oldest first. A class, so that the pool can keep the list it served last
    /// (`lastList`) and a connection's membership can name its list: a request's take and release then find
    /// their list without hashing the key (two dictionary lookups and an in-place modify were ~2k
    /// instructions of every pooled request).
    final class IdleList {
        let key: PoolKey
        fileprivate var entries: [Idle] = []

        fileprivate init(key: PoolKey) { self.key = key }
    }

    private var sweep: LoopTimer?

    let loop: EventLoop
    var maxIdlePerEndpoint: Int
    var idleTimeout: Duration
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var idle: [PoolKey: IdleList] = [:]
    /// The list the last take or release used (always one of `idle`'s): requests through one route
    /// return to the same key, and the same endpoint object, over and over.
    private var lastList: IdleList?
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
        let list: IdleList
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
        guard let list = list(for: key, creating: false) else { return nil }
        while let entry = list.entries.popLast() {
            forget(entry)
            if !entry.connection.isClosed { return entry.connection }
        }
        return nil
    }

    /// Returns a connection whose last exchange completed cleanly. One that is not reusable (bytes after the
    /// response, a switched protocol, closed) is closed instead: it must never answer another request.
    ///
    /// The pool's list holds the connection; the connection's `Membership` names the pool (unowned: the pool
    /// lives as long as its loop) and the list, and `forget` ends it whenever the entry leaves the pool.
    func release(_ connection: UpstreamConnection, tls: TLSClientContext?) {
        guard connection.isReusable, maxIdlePerEndpoint > 0 else {
            connection.close()
            return
        }
        let key = PoolKey(endpoint: connection.endpoint, tls: tls.map(ObjectIdentifier.init))
        let list = list(for: key, creating: true)!
        connection.handler = nil
        connection.idleMembership = Membership(pool: self, list: list)
        list.entries.append(Idle(connection: connection, since: loop.now))
        if list.entries.count > maxIdlePerEndpoint {
            let evicted = list.entries.removeFirst()
            forget(evicted)
            evicted.connection.close()
        }
        if sweep == nil { armSweep(after: idleTimeout) }
    }

    /// `key`'s list: the last one used when it is the same endpoint object and TLS context (compared by
    /// identity, no hashing), else the dictionary's; made when `creating`.
    private func list(for key: PoolKey, creating: Bool) -> IdleList? {
        if let lastList, lastList.key.endpoint === key.endpoint, lastList.key.tls == key.tls { return lastList }
        let found: IdleList
        if let existing = idle[key] {
            found = existing
        } else {
            guard creating else { return nil }
            found = IdleList(key: key)
            idle[key] = found
        }
        lastList = found
        return found
    }

    /// Drops an emptied list (every list the pool refers to is in `idle`).
    private func dropIfEmpty(_ list: IdleList) {
        guard list.entries.isEmpty else { return }
        idle[list.key] = nil
        if lastList === list { lastList = nil }
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
        let now = loop.now
        let timeout = UInt64(max(0, idleTimeout.saturatingNanoseconds))
        var nextDue: UInt64?
        for list in Array(idle.values) {
            while let oldest = list.entries.first, now &- oldest.since >= timeout {
                list.entries.removeFirst()
                forget(oldest)
                oldest.connection.close()
            }
            if let oldest = list.entries.first {
                let due = oldest.since &+ timeout
                nextDue = min(nextDue ?? due, due)
            }
            dropIfEmpty(list)
        }
        if let nextDue { armSweep(after: max(.nanoseconds(Int64(clamping: nextDue &- now)), .milliseconds(1))) }
    }

    /// Removes an idle connection that closed or misbehaved (its membership's call).
    func remove(_ connection: UpstreamConnection, from list: IdleList) {
        guard let index = list.entries.firstIndex(where: { $0.connection === connection }) else { return }
        forget(list.entries.remove(at: index))
        dropIfEmpty(list)
    }

    /// Closes every idle connection (shutdown, reload of limits).
    func closeAll() {
        let multiplexed = http2Connections.values.flatMap { $0 }
        http2Connections.removeAll()
        for connection in multiplexed { connection.close() }
        let all = idle.values.flatMap(\.entries)
        idle.removeAll()
        lastList = nil
        sweep?.cancel()
        sweep = nil
        for entry in all {
            forget(entry)
            entry.connection.close()
        }
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.entries.count } }
}
