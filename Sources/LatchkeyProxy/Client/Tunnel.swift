import LatchkeyHTTP
import LatchkeyNet

/// A byte tunnel between the client (`TunnelClientSide`: an HTTP/1.1 connection, or one HTTP/2 stream for an
/// RFC 8441 WebSocket) and an upstream connection (any `ByteStream`: TCP, TLS, or one HTTP/2 stream): bytes both ways, untouched, with the same
/// back-pressure as forwarded bodies (a side stops reading while the other side's write buffer is above
/// `ForwardExchange.highWaterMark`); closed after `tunnel_idle_timeout_ms` without a byte either way, and
/// half-closed as each side finishes (FIN passed on), closed when both have.
///
/// Two purposes (`Purpose`), one machinery:
/// - a CONNECT tunnel (RFC 9110 §9.3.6) for hosts that match no route: it connects, answers `200`, and is
///   logged when it opens and when it closes (host:port, duration, bytes each way and why it closed);
/// - a WebSocket connection after the upstream's `101` (RFC 6455 §4.1): it takes over the exchange's upstream
///   connection (already open, TCP or TLS) and reports its close to the exchange, which logs it.
///
/// It decides nothing itself: every event goes to its `TunnelStateMachine`, and this class carries out the
/// actions and keeps the machine's wishes (pauses, the idle timer) true.
final class Tunnel: ByteStreamDelegate, @unchecked Sendable {  // confined to the client loop
    /// What the tunnel carries, and so how it opens and who logs it.
    enum Purpose {
        /// A CONNECT to `host:port`: connect, then `200 Connection Established`; logged here.
        case connect(host: String, port: Int)
        /// A WebSocket handshake `exchange` forwarded was answered 101: the upstream is connected, the 101 went
        /// to the client; the exchange logs the tunnel when it closes.
        case upgrade(ForwardExchange)
    }

    typealias CloseReason = TunnelStateMachine.CloseReason

    /// Strong on purpose: the client may close while a response is mid-stream, and the exchange must still be
    /// able to call it safely (writes to a closed stream are dropped). The client breaks the cycle by
    /// dropping its exchange when it finishes or closes.
    private let client: any TunnelClientSide
    private let upstream: any ByteStream
    private let purpose: Purpose
    private let loop: EventLoop
    private let log: AccessLog
    private let runtime: ProxyRuntime
    private var machine: TunnelStateMachine
    /// One timer per tunnel, armed for the machine's `wakeup` and re-armed when it fires: bytes only move the
    /// machine's last activity, so a busy tunnel costs no timer operation per read.
    private var idleTimer: LoopTimer?
    /// The pauses carried out so far (the machine's wishes are applied when they change).
    private var clientPaused = false
    private var upstreamPaused = false
    /// Upstream bytes that came right behind a 101, for the client once the tunnel opens.
    private var early: [UInt8] = []

    /// `admission` refuses addresses the tunnel may not reach (see `DestinationPolicy`), after DNS.
    init(
        client: any TunnelClientSide, host: String, port: Int, loop: EventLoop, connectTimeout: Duration, log: AccessLog,
        runtime: ProxyRuntime, admission: (@Sendable (SocketAddress) -> String?)?
    ) {
        self.client = client
        self.purpose = .connect(host: host, port: port)
        self.loop = loop
        self.log = log
        self.runtime = runtime
        machine = TunnelStateMachine(idleTimeout: Self.idleTimeout(runtime), now: ExchangeInstant(of: loop))
        upstream = TCPConnection(
            connectingTo: host, port: port, loop: loop, connectTimeout: connectTimeout, admission: admission)
        upstream.delegate = self
    }

    /// A WebSocket tunnel over `upstream`, the connection `exchange` sent the handshake on (taken out of it,
    /// never pooled). The client already has the 101.
    init(client: any TunnelClientSide, upgradedFrom exchange: ForwardExchange, upstream: any ByteStream) {
        self.client = client
        self.purpose = .upgrade(exchange)
        self.loop = exchange.loop
        self.log = exchange.log
        self.runtime = exchange.runtime
        machine = TunnelStateMachine(idleTimeout: Self.idleTimeout(exchange.runtime), now: ExchangeInstant(of: exchange.loop))
        self.upstream = upstream
        upstream.delegate = self
    }

    private static func idleTimeout(_ runtime: ProxyRuntime) -> Duration {
        .milliseconds(runtime.configuration.limits.tunnelIdleTimeoutMs)
    }

    /// Connects (CONNECT), or opens at once over the connected upstream (WebSocket): `early` are bytes the
    /// upstream sent right behind its 101, which go to the client first.
    func start(early: [UInt8] = []) {
        guard case .upgrade = purpose else {
            upstream.start()
            return
        }
        self.early = early
        handle(.connected)
    }

    /// Bytes from the client, after the 200 (or right behind the CONNECT: they wait for the connect).
    func clientSent(_ bytes: [UInt8]) {
        upstream.write(bytes)
        handle(.clientBytes(bytes.count, upstreamBacklog: upstream.pendingWriteBytes))
    }

    func clientReachedEOF() { handle(.clientFinished) }

    func clientDrained() { handle(.clientDrained) }

    /// The client connection closed (or the proxy shuts it): the upstream goes too.
    func close() { handle(.clientClosed) }

    // MARK: ByteStreamDelegate (upstream side)

    func streamDidBecomeReady(_ stream: any ByteStream) {
        guard case .connect = purpose else { return }  // an upgrade's upstream is open already
        handle(.connected)
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        client.write(bytes)
        handle(.upstreamBytes(bytes.count, clientBacklog: client.pendingWriteBytes))
    }

    func streamDidReachEOF(_ stream: any ByteStream) { handle(.upstreamFinished) }

    func streamDidDrainWrites(_ stream: any ByteStream) { handle(.upstreamDrained) }

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        connectError = error
        handle(.upstreamClosed(reset: error != nil))
    }

    /// Why the CONNECT's upstream failed, for the client's error answer.
    private var connectError: NetError?

    // MARK: Carrying out the machine's decisions

    private func handle(_ event: TunnelStateMachine.Event) {
        let now = ExchangeInstant(of: loop)  // the turn's reading (`EventLoop.now`), as an exchange's
        let action = machine.event(event, now: now)
        perform(action)
        applyWishes(now: now)
    }

    private func perform(_ action: TunnelStateMachine.Action) {
        switch action {
        case .none:
            break
        case .open:
            switch purpose {
            case .connect(let host, let port):
                log.recordTunnelOpen(host: host, port: port)
                client.write(Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8))
            case .upgrade:
                runtime.metrics.webSocketTunnelsOpen.increment()
                // The exchange may have paused the upstream for its own back-pressure; the tunnel decides now.
                upstream.setReadingPaused(false)
                let early = self.early
                self.early = []
                if !early.isEmpty { stream(upstream, didRead: early) }
            }
        case .shutdownWriting(.client):
            client.shutdownWriting()
        case .shutdownWriting(.upstream):
            upstream.shutdownWriting()
        case .finish(let reason):
            report(reason)
            upstream.close()
            client.endTunnel(reason)
        case .abandon:
            upstream.close()
        case .refuseConnect:
            refuseConnect()
        }
    }

    /// Pauses follow the machine's wishes; the idle timer is armed when the machine wants one and none runs.
    private func applyWishes(now: ExchangeInstant) {
        if machine.clientReadingPaused != clientPaused {
            clientPaused = machine.clientReadingPaused
            client.setReadingPaused(clientPaused)
        }
        if machine.upstreamReadingPaused != upstreamPaused {
            upstreamPaused = machine.upstreamReadingPaused
            upstream.setReadingPaused(upstreamPaused)
        }
        guard let wakeup = machine.wakeup else {
            idleTimer?.cancel()
            idleTimer = nil
            return
        }
        guard idleTimer == nil else { return }
        idleTimer = loop.schedule(after: max(wakeup - now, .zero)) { [self] in
            idleTimer = nil
            handle(.timer)
        }
    }

    /// Records the close once: the CONNECT's line here, a WebSocket's through its exchange.
    private func report(_ reason: CloseReason) {
        switch purpose {
        case .connect(let host, let port):
            log.recordTunnelClose(
                host: host, port: port, duration: machine.openedAt.map { ExchangeInstant(of: loop) - $0 } ?? .zero,
                bytesFromClient: machine.bytesFromClient, bytesToClient: machine.bytesToClient,
                reason: reason.rawValue, runtime: runtime)
        case .upgrade(let exchange):
            runtime.metrics.webSocketTunnelsOpen.decrement()
            exchange.tunnelDidClose(
                bytesFromClient: machine.bytesFromClient, bytesToClient: machine.bytesToClient, reason: reason)
        }
    }

    /// The CONNECT's upstream never connected: the client gets the error (502, or 504 on a connect timeout).
    private func refuseConnect() {
        guard case .connect(let host, let port) = purpose else { return }
        let code: ProxyError.Code =
            switch connectError?.code {
            case .connectTimeout: .upstreamConnectTimeout
            case .destinationRefused: .destinationRefused
            default: .upstreamConnectFailed
            }
        let failure = ProxyError(code, connectError?.detail ?? "CONNECT to \(host):\(port) failed")
        log.recordRejected(
            method: "CONNECT", target: "\(host):\(port)", status: failure.status, error: failure.errorName,
            runtime: runtime)
        client.tunnelFailed(failure)
    }
}
