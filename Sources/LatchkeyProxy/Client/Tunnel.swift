import LatchkeyHTTP
import LatchkeyNet

/// A byte tunnel between the client and an upstream connection: bytes both ways, untouched, with the same
/// back-pressure as forwarded bodies (a side stops reading while the other side's write buffer is above
/// `ForwardExchange.highWaterMark`); closed after `tunnel_idle_timeout_ms` without a byte either way, and
/// half-closed as each side finishes (FIN passed on), closed when both have.
///
/// Two purposes (`Purpose`), one machinery:
/// - a CONNECT tunnel (RFC 9110 §9.3.6) for hosts that match no route: it connects, answers `200`, and is
///   logged when it opens and when it closes (host:port, duration, bytes each way and why it closed);
/// - a WebSocket connection after the upstream's `101` (RFC 6455 §4.1): it takes over the exchange's upstream
///   connection (already open, TCP or TLS) and reports its close to the exchange, which logs it.
final class Tunnel: ByteStreamDelegate, @unchecked Sendable {  // confined to the client loop
    /// What the tunnel carries, and so how it opens and who logs it.
    enum Purpose {
        /// A CONNECT to `host:port`: connect, then `200 Connection Established`; logged here.
        case connect(host: String, port: Int)
        /// A WebSocket handshake `exchange` forwarded was answered 101: the upstream is connected, the 101 went
        /// to the client; the exchange logs the tunnel when it closes.
        case upgrade(ForwardExchange)
    }

    /// Why a tunnel ended, as logged (`latchkey.outcome`).
    enum CloseReason: String {
        /// Both sides closed their writing side.
        case closed = "tunnel_closed"
        case clientClosed = "client_closed"
        case upstreamClosed = "upstream_closed"
        case upstreamReset = "upstream_reset"
        case idleTimeout = "idle_timeout"
    }

    /// Strong on purpose: the client may close while a response is mid-stream, and the exchange must still be
    /// able to call it safely (writes to a closed stream are dropped). The client breaks the cycle by
    /// dropping its exchange when it finishes or closes.
    private let client: ClientConnection
    private let upstream: any ByteStream
    private let purpose: Purpose
    private let loop: EventLoop
    private let log: AccessLog
    private let runtime: ProxyRuntime
    private let idleTimeout: Duration
    private var idleTimer: LoopTimer?
    private var lastActivity = ContinuousClock.now
    private var openedAt = ContinuousClock.now
    private var established = false
    private var clientDone = false
    private var upstreamDone = false
    private var logged = false
    private var reason: CloseReason?
    private var bytesFromClient = 0
    private var bytesToClient = 0

    /// `admission` refuses addresses the tunnel may not reach (see `DestinationPolicy`), after DNS.
    init(
        client: ClientConnection, host: String, port: Int, loop: EventLoop, connectTimeout: Duration, log: AccessLog,
        runtime: ProxyRuntime, admission: (@Sendable (SocketAddress) -> String?)?
    ) {
        self.client = client
        self.purpose = .connect(host: host, port: port)
        self.loop = loop
        self.log = log
        self.runtime = runtime
        self.idleTimeout = .milliseconds(runtime.configuration.limits.tunnelIdleTimeoutMs)
        upstream = TCPConnection(
            connectingTo: host, port: port, loop: loop, connectTimeout: connectTimeout, admission: admission)
        upstream.delegate = self
    }

    /// A WebSocket tunnel over `upstream`, the connection `exchange` sent the handshake on (taken out of it,
    /// never pooled). The client already has the 101.
    init(client: ClientConnection, upgradedFrom exchange: ForwardExchange, upstream: any ByteStream) {
        self.client = client
        self.purpose = .upgrade(exchange)
        self.loop = exchange.loop
        self.log = exchange.log
        self.runtime = exchange.runtime
        self.idleTimeout = .milliseconds(runtime.configuration.limits.tunnelIdleTimeoutMs)
        self.upstream = upstream
        upstream.delegate = self
    }

    /// Connects (CONNECT), or opens at once over the connected upstream (WebSocket): `early` are bytes the
    /// upstream sent right behind its 101, which go to the client first.
    func start(early: [UInt8] = []) {
        guard case .upgrade = purpose else {
            upstream.start()
            return
        }
        established = true
        openedAt = .now
        lastActivity = openedAt
        runtime.metrics.webSocketTunnelsOpen.increment()
        // The exchange may have paused the upstream for its own back-pressure; the tunnel decides from here.
        upstream.setReadingPaused(false)
        armIdleTimer(after: idleTimeout)
        if !early.isEmpty { stream(upstream, didRead: early) }
    }

    /// Bytes from the client, after the 200 (or right behind the CONNECT: they wait for the connect).
    func clientSent(_ bytes: [UInt8]) {
        bytesFromClient += bytes.count
        lastActivity = .now
        upstream.write(bytes)
        if upstream.pendingWriteBytes > ForwardExchange.highWaterMark { client.setReadingPaused(true) }
    }

    func clientReachedEOF() {
        clientDone = true
        upstream.shutdownWriting()
        closeIfBothDone()
    }

    func clientDrained() { upstream.setReadingPaused(false) }

    /// The client connection closed (or the proxy shuts it): the upstream goes too.
    func close() {
        finish(.clientClosed)
        upstream.close()
    }

    // MARK: ByteStreamDelegate (upstream side)

    func streamDidBecomeReady(_ stream: any ByteStream) {
        guard case .connect(let host, let port) = purpose else { return }  // an upgrade's upstream is open
        established = true
        openedAt = .now
        lastActivity = openedAt
        log.recordTunnelOpen(host: host, port: port)
        client.write(Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8))
        armIdleTimer(after: idleTimeout)
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        bytesToClient += bytes.count
        lastActivity = .now
        client.write(bytes)
        if client.pendingWriteBytes > ForwardExchange.highWaterMark { upstream.setReadingPaused(true) }
    }

    func streamDidReachEOF(_ stream: any ByteStream) {
        upstreamDone = true
        client.shutdownWriting()
        closeIfBothDone()
    }

    func streamDidDrainWrites(_ stream: any ByteStream) { client.setReadingPaused(false) }

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        idleTimer?.cancel()
        idleTimer = nil
        if !established, case .connect(let host, let port) = purpose {
            let code: ProxyError.Code =
                switch error?.code {
                case .connectTimeout: .upstreamConnectTimeout
                case .destinationRefused: .destinationRefused
                default: .upstreamConnectFailed
                }
            let failure = ProxyError(code, error?.detail ?? "CONNECT to \(host):\(port) failed")
            log.recordRejected(
                method: "CONNECT", target: "\(host):\(port)", status: failure.status, error: failure.errorName,
                runtime: runtime)
            client.tunnelFailed(failure)
        } else {
            finish(error != nil ? .upstreamReset : (clientDone ? .closed : .upstreamClosed))
            client.closeNow()
        }
    }

    private func closeIfBothDone() {
        if clientDone, upstreamDone {
            finish(.closed)
            upstream.close()
        }
    }

    // MARK: Idle timeout and the log

    /// One timer per tunnel, re-armed for the remaining time when it fires: bytes only stamp `lastActivity`.
    private func armIdleTimer(after delay: Duration) {
        idleTimer = loop.schedule(after: delay) { [self] in
            idleTimer = nil
            let idle = ContinuousClock.now - lastActivity
            guard idle >= idleTimeout else {
                armIdleTimer(after: idleTimeout - idle)
                return
            }
            finish(.idleTimeout)
            upstream.close()
        }
    }

    /// Records the close line once, with the first reason given.
    private func finish(_ reason: CloseReason) {
        idleTimer?.cancel()
        idleTimer = nil
        guard established, !logged else { return }
        logged = true
        switch purpose {
        case .connect(let host, let port):
            log.recordTunnelClose(
                host: host, port: port, duration: ContinuousClock.now - openedAt, bytesFromClient: bytesFromClient,
                bytesToClient: bytesToClient, reason: reason.rawValue, runtime: runtime)
        case .upgrade(let exchange):
            runtime.metrics.webSocketTunnelsOpen.decrement()
            exchange.tunnelDidClose(bytesFromClient: bytesFromClient, bytesToClient: bytesToClient, reason: reason)
        }
    }
}
