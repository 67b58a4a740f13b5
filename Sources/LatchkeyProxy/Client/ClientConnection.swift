import LatchkeyHTTP
import LatchkeyNet

/// One accepted client connection speaking HTTP/1.1 over any `ByteStream` (TCP today; TLS for interception):
/// decodes requests strictly, runs them one at a time (pipelined requests wait their turn), and answers
/// errors itself. It is the client-side adapter of its exchange (`ExchangeClient`, in
/// `ClientConnection+Exchange.swift`: response framing is written there). Lives on its loop; owns its
/// exchange or tunnel.
///
/// Bounded memory (RFC 9112 §9.3.2: a server may process pipelined requests one at a time): the socket is
/// read only while nothing decoded waits in `queued`. While a request is answered, at most one read's worth
/// of the next requests (64 KiB) is decoded and held; then reading stops until the answer is done. Before a
/// new request starts, a write buffer above `ForwardExchange.highWaterMark` (a client that does not read its
/// answers) must drain first. The exchange or tunnel pauses reading for its own back-pressure as well.
///
/// Upgrades (RFC 9110 §7.8): after a request with `Upgrade` nothing more is read or parsed until its answer
/// is known. A WebSocket handshake answered 101 turns the connection into one side of a `Tunnel`
/// (`beginTunnel`, with what the parser held); any other answer resumes parsing the held bytes.
///
/// Timers: `header_timeout_ms` from accept and from the first byte of each later head until the head is
/// complete (408, then close); `idle_timeout_ms` between requests.
///
/// Interception (`ClientConnection+Intercept.swift`): an intercepted CONNECT hands the socket over to a new
/// `ClientConnection` over a server `TLSStream`, with `interceptedOrigin` set; that one plans every request
/// with `RequestPlanner.planIntercepted`.
///
/// HTTP/2 (`ClientConnection+HTTP2.swift`): a listener connection whose first bytes are the HTTP/2 preface, or
/// an intercepted one whose client chose `h2` by ALPN, is handed over to an `HTTP2ClientConnection`.
final class ClientConnection: ByteStreamDelegate, ServedConnection, @unchecked Sendable {  // confined to `stream.loop`
    let stream: any ByteStream
    let server: ProxyServer
    let pool: UpstreamPool
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var parser: HTTP1RequestParser
    @exclusivity(unchecked) private var queued: [HTTP1RequestEvent] = []
    /// The current request's trailer fields, between its `.trailers` and `.end` events.
    private var requestTrailers = HTTPHeaders()
    var exchange: ForwardExchange?
    var exchangeHasWholeRequest = false
    /// A CONNECT tunnel, or an intercepted CONNECT waiting for its leaf certificate (`InterceptionHandoff`).
    var tunnel: (any ClientTunnel)?
    /// Set on the connection that serves an intercepted CONNECT's TLS stream: the host and port every request
    /// must name. Nil on a connection accepted from the listener.
    let interceptedOrigin: InterceptedOrigin?
    /// Intercepted: the TLS handshake with the client completed.
    var interceptionEstablished = false
    /// A listener connection's first bytes, held until they show whether they are the HTTP/2 preface.
    var preface: PrefaceSniff
    private var closing = false
    var isClosing: Bool { closing }
    var clientReachedEOF = false
    /// Armed once when the connection first goes idle and re-armed on expiry for what remains of the idle
    /// time, not cancelled and scheduled anew around every request (an allocation and two heap operations
    /// per request); `idleSince` says whether, and since when, the connection is idle.
    private var idleTimer: LoopTimer?
    private var idleSince: UInt64?  // the loop's time (`EventLoop.now`)
    private var headerTimer: LoopTimer?
    private var lingerTimer: LoopTimer?
    /// The timer every exchange of this connection borrows in turn (`ExchangeTimer`).
    private var exchangeTimer: ExchangeTimer?
    /// The exchange or tunnel asked to stop reading (its sink is full).
    var pausedBySink = false
    /// The current request: whether the client asked to keep the connection, and speaks HTTP/1.1.
    var requestKeepsAlive = false
    var requestIsHTTP11 = true
    /// The current response: re-chunked to the client, and whether the connection stays open after it.
    var responseChunked = false
    var responseKeepsAlive = false
    /// Response bytes held until the exchange flushes (everything one upstream read produced, one write).
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) var responseOutput: [UInt8] = []

    init(stream: any ByteStream, server: ProxyServer, pool: UpstreamPool, interceptedOrigin: InterceptedOrigin? = nil) {
        self.stream = stream
        self.server = server
        self.pool = pool
        self.interceptedOrigin = interceptedOrigin
        preface = interceptedOrigin == nil ? .sniffing([]) : .decided
        let limits = server.runtime.configuration.limits
        var parserLimits = HTTP1Limits()
        parserLimits.maxRequestLineBytes = limits.maxRequestLineBytes
        parserLimits.maxHeaderBytes = limits.maxHeaderBytes
        parser = HTTP1RequestParser(limits: parserLimits)
    }

    var loop: EventLoop { stream.loop }
    var serverIsDraining: Bool { server.isDraining }
    var pendingWriteBytes: Int { stream.pendingWriteBytes + responseOutput.count }

    func start() {
        stream.delegate = self
        stream.start()
        armIdleTimer()
        armHeaderTimer()
    }

    func write(_ bytes: [UInt8]) { stream.write(bytes) }

    /// Back-pressure from the exchange or tunnel: stop (true) or resume (false) reading the client.
    func setReadingPaused(_ paused: Bool) {
        pausedBySink = paused
        updateReading()
    }

    /// Reads only while nothing decoded is waiting and the sink has room; a closing connection reads (and
    /// discards) until the linger ends. After a request that asked to upgrade, nothing more is read until its
    /// answer says whether the protocol switched (the held bytes stay one read).
    private func updateReading() {
        let awaitingUpgrade = tunnel == nil && parser.isAwaitingUpgradeDecision
        stream.setReadingPaused(!closing && (pausedBySink || !queued.isEmpty || awaitingUpgrade))
    }

    /// An intercepted CONNECT handed the socket to a connection over TLS: this one must never touch it again
    /// (no timer, no answer), and is dropped by everything that held it.
    func detachAfterHandoff() {
        closing = true
        exchangeTimer?.retire(on: loop)
        idleTimer?.cancel()
        headerTimer?.cancel()
        lingerTimer?.cancel()
        queued.removeAll()
        tunnel = nil
    }

    /// After a 101: the bytes the client sent behind its handshake (held by the parser) belong to the tunnel,
    /// and so does everything read from now on; reading resumes (the tunnel pauses it for its own reasons).
    /// A finished request's header storage, for the parser's next request head (`HTTP1RequestParser.recycle`).
    func recycleRequestHeaders(_ headers: inout HTTPHeaders) { parser.recycle(&headers) }

    func takeHeldTunnelBytes() -> [UInt8] {
        let held = parser.takeTunnelBytes()
        updateReading()
        return held
    }

    func shutdownWriting() { stream.shutdownWriting() }
    func closeNow() { stream.close() }

    // MARK: Reading

    func streamDidBecomeReady(_ stream: any ByteStream) {
        if interceptedOrigin != nil { interceptedHandshakeDidComplete() }
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        if let tunnel {
            tunnel.clientSent(bytes)
            return
        }
        guard !closing else { return }
        var bytes = bytes
        if case .sniffing = preface {
            guard let http1 = sniffPreface(bytes) else { return }
            bytes = http1
        }
        bytes.withUnsafeBytes { parse($0) }
    }

    /// Straight from the loop's read buffer (plain TCP, once the preface sniff is over): the parser copies what
    /// it keeps before this returns.
    func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer) {
        guard tunnel == nil, case .decided = preface else {
            self.stream(stream, didRead: Array(bytes))
            return
        }
        guard !closing else { return }
        parse(bytes)
    }

    private func parse(_ bytes: UnsafeRawBufferPointer) {
        do {
            try parser.feed(bytes, into: &queued)
        } catch {
            rejectMalformed(error)
            return
        }
        processQueued()
        if exchange == nil, tunnel == nil, !closing, headerTimer == nil, !parser.isAtMessageBoundary {
            armHeaderTimer()  // the first bytes of a head: it must be complete within header_timeout_ms
        }
    }

    func processQueued() {
        defer { updateReading() }
        while !closing, tunnel == nil {
            if queued.isEmpty {
                // No upgrade happened (declined, refused, or never forwarded): the bytes held behind the
                // request that asked for one are the next requests.
                guard exchange == nil, parser.isAwaitingUpgradeDecision else { return }
                do {
                    queued = try parser.resumeAfterDeclinedUpgrade()
                } catch {
                    rejectMalformed(error)
                    return
                }
                if queued.isEmpty { return }
                continue
            }
            if let exchange {
                if exchangeHasWholeRequest { return }  // the next request waits for this response
                switch queued.takeFirst() {
                case .body(let chunk): exchange.clientBody(chunk)
                case .trailers(let fields): requestTrailers = fields
                case .end:
                    exchangeHasWholeRequest = true
                    exchange.clientEnd(trailers: requestTrailers)
                    requestTrailers = HTTPHeaders()
                case .head: assertionFailure("a head inside a request")
                }
                continue
            }
            // A client that does not read its answers: the next one waits until the last ones drained.
            if stream.pendingWriteBytes > ForwardExchange.highWaterMark { return }
            guard case .head(let head, let framing) = queued.takeFirst() else { continue }
            begin(head, framing: framing)
        }
    }

    private func begin(_ head: consuming HTTPRequestHead, framing: HTTPBodyFraming) {
        idleSince = nil
        if let headerTimer {
            headerTimer.cancel()
            self.headerTimer = nil
        }
        let runtime = server.runtime
        let keepAlive = head.wantsKeepAlive
        // Switched on as consumed, so that the plan and the head move into the exchange rather than being copied.
        let planned = RequestRewrite.plan(head, runtime: runtime, origin: interceptedOrigin, framing: framing)
        switch consume planned {
        case .reject(let error):
            if let interceptedOrigin {
                server.accessLog.recordInterceptedRejected(
                    origin: interceptedOrigin, method: head.method, target: head.target, status: error.status,
                    error: error.errorName, runtime: runtime)
            } else {
                server.accessLog.recordRejected(
                    method: head.method, target: head.target, status: error.status, error: error.errorName,
                    runtime: runtime)
            }
            // A rejected request's body is not read: rather than skip an unknown amount of it, the connection
            // closes after the answer (which stops this queue too). So does a refused CONNECT: what follows it
            // is tunnel data, not HTTP (RFC 9110 §9.3.6), and is discarded while the connection lingers.
            let close = !keepAlive || framing != .none || head.method == "CONNECT"
            respond(error, close: close)
            if !close {
                if case .end? = queued.first { queued.removeFirst() }
                armIdleTimer()
            }
        case .tunnel(let host, let port):
            guard framing == .none else {
                respond(ProxyError(.badRequest, "CONNECT must not carry a body"), close: true)
                return
            }
            if case .end? = queued.first { queued.removeFirst() }
            // The planner checked the name; the addresses it resolves to are checked again when connecting.
            let destination = DestinationPolicy.passthrough(listenerIsLoopback: runtime.configuration.listen.isLoopback)
            let tunnel = Tunnel(
                client: self, host: host, port: port, loop: loop, connectTimeout: .seconds(10), log: server.accessLog,
                runtime: runtime, admission: destination.admission(excluding: server.ownListeners))
            self.tunnel = tunnel
            tunnel.start()
            // Bytes the client sent right behind the CONNECT (in the same read) belong to the tunnel.
            let early = parser.takeTunnelBytes()
            if !early.isEmpty { tunnel.clientSent(early) }
        case .intercept(let origin):
            guard framing == .none else {
                respond(ProxyError(.badRequest, "CONNECT must not carry a body"), close: true)
                return
            }
            if case .end? = queued.first { queued.removeFirst() }
            // Bytes right behind the CONNECT are the start of the client's TLS handshake.
            beginInterception(origin, runtime: runtime, early: parser.takeTunnelBytes())
        case .forward(let plan):
            requestKeepsAlive = keepAlive
            requestIsHTTP11 = head.version == .http1_1
            let timer = lendExchangeTimer()
            let exchange = ForwardExchange(
                client: self, plan: consume plan, requestHead: consume head, framing: framing, upstreams: pool, loop: loop,
                log: server.accessLog, runtime: runtime, timer: timer)
            self.exchange = exchange
            exchangeHasWholeRequest = false
            exchange.start()
        case .respond(let response):
            server.accessLog.recordRejected(
                method: head.method, target: head.target, status: response.status, error: "answered_by_proxy",
                runtime: runtime)
            // As for a rejection: a body the answer did not need is not skipped; the connection closes.
            let close = !keepAlive || framing != .none
            stream.write(response.bytes(close: close))
            if close {
                closeGracefully()
            } else {
                if case .end? = queued.first { queued.removeFirst() }
                armIdleTimer()
            }
        }
    }

    private func rejectMalformed(_ error: HTTP1ParseError) {
        let proxyError = ProxyError(parseError: error)
        server.accessLog.recordRejected(
            method: "-", target: "-", status: proxyError.status, error: error.code.rawValue, runtime: server.runtime)
        if let exchange {
            // The bad bytes came while a request was in flight: abandon it.
            exchange.cancel()
            self.exchange = nil
        }
        respond(proxyError, close: true)
    }

    // MARK: Answers and completion

    func respond(_ error: ProxyError, close: Bool) {
        flushResponse()
        stream.write(error.response(close: close, scrubber: server.scrubber))
        if close { closeGracefully() }
    }

    /// Shutdown: an idle connection closes now; one with a request in flight closes after its response.
    func drain() {
        if exchange == nil, tunnel == nil { closeGracefully() }
    }

    func tunnelFailed(_ error: ProxyError) {
        tunnel = nil
        pausedBySink = false
        respond(error, close: true)
    }

    /// Sends what is queued, then FIN; keeps reading (and discarding) briefly so that a client still
    /// sending does not get a reset that destroys the response (RFC 9112 §9.6).
    func closeGracefully() {
        guard !closing else { return }
        closing = true
        idleTimer?.cancel()
        headerTimer?.cancel()
        queued.removeAll()
        stream.setReadingPaused(false)
        stream.shutdownWriting()
        lingerTimer = loop.schedule(after: .seconds(2)) { [self] in stream.close() }
    }

    /// The same timer for each exchange, left armed between them (`ExchangeTimer`); a new one only when an
    /// earlier exchange still holds it.
    private func lendExchangeTimer() -> ExchangeTimer {
        if let exchangeTimer, exchangeTimer.isFree { return exchangeTimer }
        exchangeTimer?.retire(on: loop)
        let timer = ExchangeTimer()
        exchangeTimer = timer
        return timer
    }

    /// The connection is idle from now on (between requests): it closes after `idle_timeout_ms` of this.
    func armIdleTimer() {
        idleSince = loop.now
        if idleTimer == nil { scheduleIdleCheck(after: idleTimeout) }
        // Part of the next head arrived while the last request was answered: its time starts now.
        if !parser.isAtMessageBoundary, !closing, queued.isEmpty { armHeaderTimer() }
    }

    private var idleTimeout: Duration { .milliseconds(server.runtime.configuration.limits.idleTimeoutMs) }

    private func scheduleIdleCheck(after delay: Duration) {
        idleTimer = loop.schedule(after: delay) { [self] in idleCheck() }
    }

    /// Closes the connection if it has been idle for the whole timeout; otherwise waits for the rest of it.
    /// A connection busy with a request gets its timer again when it next goes idle.
    private func idleCheck() {
        idleTimer = nil
        guard !closing, exchange == nil, tunnel == nil, let idleSince else { return }
        let idle = loop.elapsed(since: idleSince)
        if idle >= idleTimeout {
            stream.close()
        } else {
            scheduleIdleCheck(after: idleTimeout - idle)
        }
    }

    /// `header_timeout_ms` for the head being received (slowloris: a head trickling in byte by byte would
    /// otherwise hold the connection for the whole idle timeout).
    private func armHeaderTimer() {
        headerTimer?.cancel()
        let timeout = Duration.milliseconds(server.runtime.configuration.limits.headerTimeoutMs)
        headerTimer = loop.schedule(after: timeout) { [self] in headerTimedOut() }
    }

    private func headerTimedOut() {
        headerTimer = nil
        guard exchange == nil, tunnel == nil, !closing, queued.isEmpty else { return }
        guard !parser.isAtMessageBoundary else {
            stream.close()  // nothing of a request arrived: nothing to answer
            return
        }
        let error = ProxyError(
            .headerTimeout,
            "the request head was not complete within \(server.runtime.configuration.limits.headerTimeoutMs) ms")
        server.accessLog.recordRejected(
            method: "-", target: "-", status: error.status, error: error.errorName, runtime: server.runtime)
        respond(error, close: true)
    }

    // MARK: ByteStreamDelegate

    func streamDidReachEOF(_ stream: any ByteStream) {
        clientReachedEOF = true
        if let tunnel {
            tunnel.clientReachedEOF()
            return
        }
        if closing || exchange == nil {
            self.stream.close()
            return
        }
        if !exchangeHasWholeRequest {
            exchange?.cancel()
            exchange = nil
            self.stream.close()
        }
        // Otherwise the request is whole: answer it, then close (checked in exchangeDidFinish).
    }

    func streamDidDrainWrites(_ stream: any ByteStream) {
        exchange?.clientDidDrainWrites()
        tunnel?.clientDrained()
        if exchange == nil, tunnel == nil, !queued.isEmpty { processQueued() }
    }

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        if interceptedOrigin != nil, !interceptionEstablished { interceptedHandshakeDidFail(error) }
        idleTimer?.cancel()
        headerTimer?.cancel()
        lingerTimer?.cancel()
        exchange?.cancel()
        exchange = nil
        exchangeTimer?.retire(on: loop)
        tunnel?.close()
        tunnel = nil
        server.clientClosed(self)
    }
}

extension Array where Element == HTTP1RequestEvent {
    /// Removes and returns the first event, moved out: `removeFirst()` copies it (a retain of a head's
    /// buffers) before destroying the original.
    fileprivate mutating func takeFirst() -> HTTP1RequestEvent {
        var first = HTTP1RequestEvent.end
        swap(&first, &self[0])
        removeFirst()
        return first
    }
}
