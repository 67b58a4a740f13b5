import LatchkeyHTTP
import LatchkeyNet

/// A CONNECT tunnel (RFC 9110 §9.3.6) for hosts that match no route: bytes both ways, untouched,
/// with the same back-pressure as forwarded bodies (a side stops reading while the other side's write
/// buffer is above `ForwardExchange.highWaterMark`).
///
/// Logged in the access log when it opens and when it closes (host:port, duration, bytes each way and why
/// it closed); closed after `tunnel_idle_timeout_ms` without a byte either way.
final class Tunnel: ByteStreamDelegate, @unchecked Sendable {  // confined to the client loop
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
    private let upstream: TCPConnection
    private let host: String
    private let port: Int
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
        self.host = host
        self.port = port
        self.loop = loop
        self.log = log
        self.runtime = runtime
        self.idleTimeout = .milliseconds(runtime.configuration.limits.tunnelIdleTimeoutMs)
        upstream = TCPConnection(
            connectingTo: host, port: port, loop: loop, connectTimeout: connectTimeout, admission: admission)
        upstream.delegate = self
    }

    func start() { upstream.start() }

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
        if !established {
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
        log.recordTunnelClose(
            host: host, port: port, duration: ContinuousClock.now - openedAt, bytesFromClient: bytesFromClient,
            bytesToClient: bytesToClient, reason: reason.rawValue, runtime: runtime)
    }
}
