import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Logging

/// One client connection speaking HTTP/2 (RFC 9113) over any `ByteStream`: h2c with prior knowledge on the
/// listener (`ClientConnection` saw the preface) or `h2` chosen by ALPN on an intercepted TLS stream. Owns the
/// server-role `HTTP2Session` and one `HTTP2StreamClient` per open stream, each driving its own
/// `ForwardExchange` exactly as an HTTP/1.1 request would (`HTTP2ClientConnection+Requests.swift`).
///
/// Lives on its loop. Bytes in go to the session; the events it yields are dispatched to the streams; then
/// `flush` writes everything the session has ready in one write. What exchanges write later (their
/// responses, from upstream events) is flushed once at the end of the loop's turn (`scheduleFlush`);
/// a flush asked for while one runs (a local answer while events are dispatched) makes it go round again
/// instead of nesting.
///
/// Bounded memory: per stream, request DATA waits unconsumed while its exchange's upstream is full (the
/// client's window closes); response DATA waits in the session while the socket's backlog is above
/// `ForwardExchange.highWaterMark` (no `send` then), which the exchanges see in `pendingWriteBytes` and answer
/// by pausing their upstreams.
///
/// States: `open` (taking streams) → `draining` (GOAWAY sent: shutdown or idle; streams in flight finish)
/// → `closing` (FIN sent, lingering) → closed. A connection error (protocol error, rapid reset, ...) sends
/// the session's GOAWAY and goes to `closing` at once; it touches no other connection.
final class HTTP2ClientConnection: ByteStreamDelegate, ServedConnection, EndOfTurnFlush, @unchecked Sendable {  // confined to `loop`
    enum State { case open, draining, closing }

    let stream: any ByteStream
    let server: ProxyServer
    let pool: UpstreamPool
    /// Set when this connection serves an intercepted CONNECT's TLS stream (ALPN `h2`): the host and port
    /// every request must name (`RequestPlanner.planIntercepted`).
    let interceptedOrigin: InterceptedOrigin?
    let session: HTTP2Session
    /// The streams with a request, until the session reports them closed.
    var streams = StreamTable<HTTP2StreamClient>()
    private(set) var state = State.open
    // Loop-confined and never mutated re-entrantly (swapped out before use): exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var events: [HTTP2Event] = []
    /// The batch `dispatchEvents` works through, emptied and kept: the session fills `events` meanwhile,
    /// and the two swap, so neither is allocated anew for each batch.
    @exclusivity(unchecked) private var dispatching: [HTTP2Event] = []
    @exclusivity(unchecked) private var output: [UInt8] = []
    private var flushing = false
    private var flushAgain = false
    private var flushScheduled = false
    private var idleTimer: LoopTimer?
    /// `header_timeout_ms` for the first request, as for an HTTP/1.1 connection's first head: a client that
    /// connects (or completes TLS) and sends no complete request does not hold the connection for the
    /// whole idle timeout. Cancelled by the first stream.
    private var firstRequestTimer: LoopTimer?
    private var idleSince: UInt64?  // the loop's time (`EventLoop.now`): no clock read per request
    private var lingerTimer: LoopTimer?
    /// Timers the streams' finished exchanges gave back, lent to the next ones (`ExchangeTimer`).
    private var spareExchangeTimers: [ExchangeTimer] = []
    private var closedForTimers = false

    init(stream: any ByteStream, server: ProxyServer, pool: UpstreamPool, interceptedOrigin: InterceptedOrigin?)
        throws(HTTP2Error)
    {
        self.stream = stream
        self.server = server
        self.pool = pool
        self.interceptedOrigin = interceptedOrigin
        session = try HTTP2Session(role: .server, settings: HTTP2Settings(server.runtime.configuration.limits))
    }

    var loop: EventLoop { stream.loop }

    /// Takes over `stream`'s events (it is already started) and feeds `received`, the bytes read so far (the
    /// preface included); the session's SETTINGS go out with the first flush.
    func start(received: [UInt8]) {
        stream.delegate = self
        stream.setReadingPaused(false)
        idleSince = loop.now
        scheduleIdleCheck(after: idleTimeout)
        let headerTimeout = Duration.milliseconds(server.runtime.configuration.limits.headerTimeoutMs)
        firstRequestTimer = loop.schedule(after: headerTimeout) { [self] in firstRequestTimedOut() }
        if received.isEmpty {
            flush()
        } else {
            self.stream(stream, didRead: received)
        }
    }

    // MARK: Reading

    func streamDidBecomeReady(_ stream: any ByteStream) {}

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.stream(stream, didReadInPlace: $0) }
    }

    /// Straight from the loop's read buffer: nghttp2 copies what it keeps, and the events own their bytes.
    func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer) {
        guard state != .closing else { return }  // lingering: read and discard
        do {
            try session.receive(bytes, into: &events)
        } catch {
            connectionError(error)
            return
        }
        flush()
    }

    func streamDidReachEOF(_ stream: any ByteStream) {
        // No more frames will come: requests not yet whole never will be (their streams are reset and dropped);
        // the complete ones are answered, then the connection closes.
        for (id, client) in streams where !client.requestComplete {
            streams[id] = nil
            client.clientWentAway()
            session.resetStream(stream: id, code: .cancel)
        }
        if state == .open { state = .draining }
        flush()
    }

    func streamDidDrainWrites(_ stream: any ByteStream) {
        // Response DATA held back while the socket was full (`flush` frames nothing past the high-water
        // mark) is framed now. The socket drains after every write, and most times nothing waits: no pass
        // through the session then (two `nghttp2_session_mem_send` calls that return nothing).
        if session.wantsToSend || !events.isEmpty { flush() }
        guard !streams.isEmpty else { return }
        for client in Array(streams.values) { client.writesDrained() }
    }

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        idleTimer?.cancel()
        firstRequestTimer?.cancel()
        lingerTimer?.cancel()
        let open = streams
        streams.removeAll()
        closedForTimers = true
        for client in open.values { client.clientWentAway() }
        for timer in spareExchangeTimers { timer.retire(on: loop) }
        spareExchangeTimers.removeAll()
        server.clientClosed(self)
    }

    // MARK: Exchange timers

    /// A timer for a new stream's exchange: one a finished exchange gave back (still armed, lazily), or a new
    /// one (`ExchangeTimer`).
    func lendExchangeTimer() -> ExchangeTimer {
        spareExchangeTimers.popLast() ?? ExchangeTimer()
    }

    /// A finished exchange's timer, kept for the next stream: there are never more than streams ran at once
    /// (a new timer is made only when none is spare), 128 at most, and none once the connection closed.
    func takeBack(_ timer: ExchangeTimer) {
        guard timer.isFree else { return }  // still an exchange's (a WebSocket tunnel): it stays with it
        guard !closedForTimers, spareExchangeTimers.count < Self.spareTimerLimit else { return timer.retire(on: loop) }
        spareExchangeTimers.append(timer)
    }

    private static let spareTimerLimit = 128

    // MARK: Writing

    /// What the exchanges produced (response heads, bodies, ends, the proxy's own answers) is framed at the
    /// end of the loop's turn: every stream answered in one turn shares one pass through the session and one
    /// write, where a flush per call framed each response's HEADERS, its DATA and its end in passes of their
    /// own (three `nghttp2_session_mem_send` loops a request, each ending in an empty call). Inside `flush`
    /// (a local answer while events are dispatched) it only asks it to go round again. Dispatch has no turns:
    /// there it flushes at once, as before.
    func scheduleFlush() {
        if flushing {
            flushAgain = true
            return
        }
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.flushAtEndOfTurn(self)
    }

    func flushAtEndOfTurn() {
        flushScheduled = false
        flush()
    }

    /// Dispatches pending events, then writes what the session has ready, until neither produces more.
    /// Called after each read, at the end of a turn in which exchanges wrote (`scheduleFlush`), and when the
    /// socket drains; a call made while one runs only asks it to go round again.
    func flush() {
        if flushing {
            flushAgain = true
            return
        }
        flushing = true
        defer { flushing = false }
        repeat {
            flushAgain = false
            dispatchEvents()
            guard state != .closing else { break }  // FIN sent: nothing more can be written
            // A client that does not read: frames wait in the session (bounded by the streams' windows and
            // the exchanges' back-pressure) rather than in the socket's buffer.
            if stream.pendingWriteBytes <= ForwardExchange.highWaterMark {
                do {
                    try session.send(into: &output, events: &events)
                } catch {
                    output.removeAll()
                    connectionError(error)
                    return
                }
                if !output.isEmpty {
                    stream.write(taking: &output)
                }
            }
        } while flushAgain || !events.isEmpty
        closeIfDone()
    }

    /// Consumes `count` bytes of `id`'s request DATA: the window update goes out with the next flush.
    func consume(stream id: Int32, count: Int) {
        guard count > 0 else { return }
        session.consume(stream: id, count: count)
    }

    /// What `id`'s exchange waits on: its DATA not yet framed plus its share of the socket's backlog.
    func pendingWriteBytes(stream id: Int32) -> Int {
        session.pendingDataBytes(stream: id) + stream.pendingWriteBytes / max(1, streams.count)
    }

    // MARK: Errors, idle, shutdown

    /// The session found a connection error (it queued GOAWAY with the code): write it, answer nothing more,
    /// drop every stream's exchange, and close after a short linger.
    private func connectionError(_ error: HTTP2Error) {
        logConnectionError(error.code, detail: error.detail)
        var ignored: [HTTP2Event] = []
        try? session.send(into: &output, events: &ignored)
        if !output.isEmpty {
            stream.write(output)
            output = []
        }
        events.removeAll()
        let open = streams
        streams.removeAll()
        for client in open.values { client.clientWentAway() }
        closeGracefully()
    }

    /// One line per client connection ended by an HTTP/2 protocol error (never a header value or a secret:
    /// the codec's detail names frames and rules only).
    private func logConnectionError(_ code: HTTP2ErrorCode, detail: String) {
        server.logger.info(
            "HTTP/2 connection error \(code.name): \(detail)",
            metadata: [LogKey.outcome: .string("http2_\(code.name)"), LogKey.protocolName: "h2"])
    }

    /// Shutdown: GOAWAY (no new streams), streams in flight finish, then the connection closes.
    func drain() {
        guard state == .open else { return }
        state = .draining
        session.goAway(code: .noError, debug: "shutting down")
        flush()
    }

    /// Closes once nothing is left to do: the session is done (GOAWAY both ways, a fatal error), or the
    /// connection is draining and its last stream closed.
    private func closeIfDone() {
        guard state != .closing else { return }
        if !session.isActive || (state == .draining && streams.isEmpty) {
            // nghttp2 ends some sessions itself (a first frame other than SETTINGS, ...) with a GOAWAY
            // rather than an error from `receive`: logged here as the same kind of line.
            if let code = session.sentGoAway, code != .noError { logConnectionError(code, detail: "GOAWAY sent") }
            closeGracefully()
        } else if streams.isEmpty, idleSince == nil {
            idleSince = loop.now
            if idleTimer == nil { scheduleIdleCheck(after: idleTimeout) }
        }
    }

    /// A stream began: the connection is not idle.
    func streamBegan() {
        idleSince = nil
        if let firstRequestTimer {
            firstRequestTimer.cancel()
            self.firstRequestTimer = nil
        }
    }

    /// No complete request within `header_timeout_ms` of the start: GOAWAY and close (nothing to answer).
    private func firstRequestTimedOut() {
        firstRequestTimer = nil
        guard state == .open, streams.isEmpty else { return }
        state = .draining
        session.goAway(code: .noError, debug: "no request within the header timeout")
        flush()
    }

    /// Sends what is queued, then FIN; keeps reading (and discarding) briefly so that a client still sending
    /// does not get a reset that destroys the GOAWAY or the last responses (as HTTP/1, RFC 9112 §9.6).
    func closeGracefully() {
        guard state != .closing else { return }
        state = .closing
        idleTimer?.cancel()
        firstRequestTimer?.cancel()
        stream.setReadingPaused(false)
        stream.shutdownWriting()
        lingerTimer = loop.schedule(after: .seconds(2)) { [self] in stream.close() }
    }

    private var idleTimeout: Duration { .milliseconds(server.runtime.configuration.limits.idleTimeoutMs) }

    private func scheduleIdleCheck(after delay: Duration) {
        idleTimer = loop.schedule(after: delay) { [self] in idleCheck() }
    }

    /// `idle_timeout_ms` without an open stream: GOAWAY (no error) and close, as an idle HTTP/1 connection closes.
    private func idleCheck() {
        idleTimer = nil
        guard state != .closing, streams.isEmpty, let idleSince else { return }
        let idle = loop.elapsed(since: idleSince)
        if idle >= idleTimeout {
            state = .draining
            session.goAway(code: .noError, debug: "idle")
            flush()
        } else {
            scheduleIdleCheck(after: idleTimeout - idle)
        }
    }

    // MARK: Events

    private func dispatchEvents() {
        while !events.isEmpty {
            swap(&dispatching, &events)
            for index in dispatching.indices { handle(HTTP2Event.take(from: &dispatching[index])) }
            dispatching.removeAllOneByOne()
        }
    }

    private func handle(_ event: consuming HTTP2Event) {
        switch consume event {
        case .request(let id, let head, let endStream):
            beginRequest(stream: id, head, endStream: endStream)
        case .data(let id, let bytes):
            if let client = streams[id] {
                client.received(bytes)
            } else {
                consume(stream: id, count: bytes.count)  // answered already: the rest of the body is dropped
            }
        case .end(let id):
            streams[id]?.receivedEnd(trailers: HTTPHeaders())
        case .trailers(let id, let trailers):
            streams[id]?.receivedEnd(trailers: trailers)
        case .headersTooLarge:
            server.accessLog.recordRejected(
                method: "-", target: "-", status: 431, error: "http2_header_list_too_large", runtime: server.runtime,
                protocolName: "h2")
        case .dataDrained(let id):
            streams[id]?.writesDrained()
        case .streamClosed(let id, let code):
            streams.removeValue(forKey: id)?.streamClosed(code)
        case .goAway:
            if state == .open { state = .draining }  // the client opens no more streams
        case .interimResponse, .response, .remoteSettings:
            break  // client-role events, or nothing to act on
        }
    }
}

extension HTTP2Settings {
    /// What a client connection announces and enforces, from `limits:`; the rapid-reset guard keeps the
    /// codec's defaults.
    init(_ limits: LimitSettings) {
        self.init()
        maxConcurrentStreams = UInt32(limits.http2MaxConcurrentStreams)
        maxHeaderListSize = UInt32(limits.http2MaxHeaderListBytes)
        headerTableSize = UInt32(limits.http2HeaderTableBytes)
        // WebSockets over HTTP/2 (RFC 8441 §3): the client may send extended CONNECT.
        enableConnectProtocol = true
    }
}
