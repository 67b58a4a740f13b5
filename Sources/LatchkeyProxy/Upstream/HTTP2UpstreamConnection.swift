import LatchkeyHTTP
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyTLS

/// One multiplexed HTTP/2 connection to an upstream origin (RFC 9113), over TLS (ALPN `h2`) or plain TCP
/// (h2c with prior knowledge, §3.3), owned by one loop. Every exchange using it holds one of its streams
/// (`HTTP2UpstreamStream`), which is the exchange's `ExchangeUpstream`; the connection carries the session's
/// bytes and hands each stream its events.
///
/// It lives in its loop's `UpstreamPool` from birth until GOAWAY or close: the pool offers it to new exchanges
/// while it has room under the server's SETTINGS_MAX_CONCURRENT_STREAMS. While no stream is open it sends a
/// PING every `keepAliveInterval` (a peer that went away is noticed before a request is lost on it), and after
/// the pool's idle timeout it says GOAWAY and closes (pinging at least twice per idle timeout, so a short
/// timeout still sees one PING).
final class HTTP2UpstreamConnection: ByteStreamDelegate, EndOfTurnFlush, @unchecked Sendable {  // confined to `loop`
    /// Where the connection stands. Only `.ready` takes new streams (`.connecting` queues them).
    enum State: Equatable {
        case connecting
        case ready
        /// A GOAWAY came (or was sent): streams already open finish, no new one starts.
        case draining
        case closed
    }

    /// How often an idle connection is pinged (capped by the idle timeout).
    static let keepAliveInterval: Duration = .seconds(30)

    let endpoint: UpstreamEndpoint
    let key: UpstreamPool.PoolKey
    let stream: any ByteStream
    var loop: EventLoop { stream.loop }
    private let session: HTTP2Session
    private(set) var state: State
    /// Open streams by id, and streams handed out before the connection was ready (no id yet).
    private var streams = StreamTable<HTTP2UpstreamStream>()
    private var waiting: [HTTP2UpstreamStream] = []
    /// How many streams completed on this connection (a stream opened after one did is "on a reused
    /// connection", see `HTTP2UpstreamStream.failedBeforeAnyResponseByte`).
    private(set) var completedStreams = 0
    /// The pool holding this connection; unowned: the pool lives as long as its loop.
    private unowned let pool: UpstreamPool
    private let openGauge: Gauge?
    private var countedOpen = false
    // Loop-confined and never mutated re-entrantly (swapped out before use): exclusivity unchecked.
    @exclusivity(unchecked) private var events: [HTTP2Event] = []
    /// The frames `flush` writes, kept for the next flush (`ByteStream.write(taking:)`).
    @exclusivity(unchecked) private var output: [UInt8] = []
    private var flushScheduled = false
    /// The stream whose response events `reports` holds (see `report`).
    private var reporting: HTTP2UpstreamStream?
    private var reports: [HTTP1ResponseEvent] = []
    /// The error of a GOAWAY the server sent with a code other than NO_ERROR: why the connection then ends.
    private var goAwayError: HTTP2Error?
    private var idleSince: UInt64?  // the loop's time (`EventLoop.now`): no clock read per request
    private var keepAliveTimer: LoopTimer?
    /// Whether the server's SETTINGS announced extended CONNECT (RFC 8441 §3); nil until they arrived.
    private(set) var offersExtendedConnect: Bool?

    /// A new connection to `endpoint` (TLS when https, else h2c); `start` connects it.
    init(
        endpoint: UpstreamEndpoint, key: UpstreamPool.PoolKey, tls: TLSClientContext?, connectTimeout: Duration,
        pool: UpstreamPool
    ) throws(UpstreamFailure) {
        let tcp = TCPConnection(
            connectingTo: endpoint.host, port: endpoint.port, loop: pool.loop, connectTimeout: connectTimeout,
            admission: pool.ownListeners.map { endpoint.destination.admission(excluding: $0) })
        if endpoint.isTLS, let tls {
            do {
                stream = try TLSStream(
                    underlying: tcp, context: tls, serverName: endpoint.serverName, peer: endpoint.authority)
            } catch {
                throw .network(NetError(.tlsFailed, "\(error)"))
            }
        } else {
            stream = tcp
        }
        self.endpoint = endpoint
        self.key = key
        self.pool = pool
        self.openGauge = pool.openConnections
        state = .connecting
        session = try Self.makeSession()
        stream.delegate = self
    }

    /// Takes over `stream`, a connection whose TLS handshake just chose `h2` (it was opened as HTTP/1.1
    /// before the pool knew what the server speaks). It is already counted as open.
    init(adopting stream: any ByteStream, endpoint: UpstreamEndpoint, key: UpstreamPool.PoolKey, pool: UpstreamPool)
        throws(UpstreamFailure)
    {
        self.stream = stream
        self.endpoint = endpoint
        self.key = key
        self.pool = pool
        self.openGauge = pool.openConnections
        countedOpen = true
        state = .ready
        session = try Self.makeSession()
        stream.delegate = self
        scheduleFlush()  // the connection preface and SETTINGS go first
    }

    private static func makeSession() throws(UpstreamFailure) -> HTTP2Session {
        do {
            return try HTTP2Session(role: .client)
        } catch {
            throw .http2(error)
        }
    }

    private var started = false

    /// Connects (once; every stream handed out while connecting calls it).
    func start() {
        guard !started, state == .connecting else { return }
        started = true
        stream.start()
    }

    // MARK: Streams

    /// Whether a new exchange may use this connection now or once it is ready.
    var hasRoom: Bool {
        guard state == .ready || state == .connecting else { return false }
        // Until the server's SETTINGS arrive (`offersExtendedConnect` is set with them), the limit its last
        // connection was given, if the pool knows one.
        let limit = offersExtendedConnect == nil
            ? pool.assumedStreamLimit(for: key) ?? session.remoteMaxConcurrentStreams
            : session.remoteMaxConcurrentStreams
        return streams.count + waiting.count < Int(min(limit, 1000))
    }

    var isReady: Bool { state == .ready }

    /// A stream for `handler`'s exchange (its request goes with `HTTP2UpstreamStream.sendRequest`).
    func makeStream(handler: any UpstreamConnectionHandler) -> HTTP2UpstreamStream {
        let stream = HTTP2UpstreamStream(connection: self, handler: handler, onReusedConnection: completedStreams > 0)
        waiting.append(stream)
        becomeBusy()
        return stream
    }

    /// Opens `stream` with `head` (RFC 9113 §8.3.1). A refusal by the session fails the stream on the next turn.
    func open(_ stream: HTTP2UpstreamStream, _ head: HTTP2RequestHead, endStream: Bool) -> Int32? {
        open(stream) { session throws(HTTP2Error) in try session.submitRequest(head, endStream: endStream) }
    }

    /// Opens `stream` with the HTTP/1.1-shaped `head` as `HTTP2RequestHead(head, scheme:authority:)` with this
    /// connection's origin would carry it, translated straight into the header block.
    func open(_ stream: HTTP2UpstreamStream, translating head: HTTPRequestHead, endStream: Bool) -> Int32? {
        open(stream) { session throws(HTTP2Error) in
            try session.submitRequest(
                translating: head, scheme: endpoint.scheme, authority: endpoint.authority, endStream: endStream)
        }
    }

    private func open(_ stream: HTTP2UpstreamStream, submit: (HTTP2Session) throws(HTTP2Error) -> Int32) -> Int32? {
        waiting.removeAll { $0 === stream }
        guard state == .ready else {
            failLater(stream, .http2(HTTP2Error(.refusedStream, "the connection is going away")), unprocessed: true)
            return nil
        }
        do {
            let id = try submit(session)
            streams[id] = stream
            scheduleFlush()
            return id
        } catch {
            failLater(stream, .http2(error), unprocessed: false)
            return nil
        }
    }

    func sendData(_ id: Int32, _ bytes: [UInt8]) {
        session.sendData(stream: id, bytes)
        scheduleFlush()
    }

    func endStream(_ id: Int32, trailers: HTTPHeaders) {
        session.endStream(stream: id, trailers: trailers)
        scheduleFlush()
    }

    func pendingDataBytes(_ id: Int32) -> Int { session.pendingDataBytes(stream: id) }

    /// A response head's storage once written to the client: the session's next header block fills it.
    func recycle(_ headers: inout HTTPHeaders) { session.recycle(&headers) }

    /// A request head's storage once submitted (nghttp2 copied it): the next request on any of this
    /// connection's streams is built in it (`HTTP2UpstreamStream.takeSpareRequestHeaders`). Heads are built
    /// and submitted one at a time, so one spare serves them all.
    var spareRequestHeaders = SpareHeaderStorage()

    /// The peer may send `count` more bytes on `id` (its DATA was handed on).
    func consume(_ id: Int32, count: Int) {
        session.consume(stream: id, count: count)
        scheduleFlush()
    }

    /// The exchange no longer wants `stream`: reset it when still open (CANCEL, RFC 9113 §8.7 for a response
    /// not wanted), and forget it.
    func drop(_ stream: HTTP2UpstreamStream, reset: Bool) {
        waiting.removeAll { $0 === stream }
        if let id = stream.id, streams[id] === stream {
            streams[id] = nil
            if reset, state != .closed {
                session.resetStream(stream: id, code: .cancel)
                scheduleFlush()
            }
        }
        becomeIdleIfUnused()
    }

    /// A WebSocket handshake opens its extended CONNECT only once the server's SETTINGS said whether it may
    /// (RFC 8441 §3); until then the stream stays `waiting` (counted, failed with the connection).
    func openWhenSettingsKnown(_ stream: HTTP2UpstreamStream) {
        if let offersExtendedConnect {
            stream.settingsKnown(offersExtendedConnect: offersExtendedConnect)  // `open` refuses on a closing one
        } else if state == .ready || state == .connecting {
            if !waiting.contains(where: { $0 === stream }) { waiting.append(stream) }
        } else {
            // Going away before its SETTINGS came: no stream will open here; the request goes again.
            waiting.removeAll { $0 === stream }
            failLater(stream, .http2(HTTP2Error(.refusedStream, "the connection is going away")), unprocessed: true)
        }
    }

    /// `stream` cannot be carried here (HTTP_1_1_REQUIRED): reported on the next turn, as `failLater`.
    func refuseLater(_ stream: HTTP2UpstreamStream, _ failure: UpstreamFailure) {
        waiting.removeAll { $0 === stream }
        failLater(stream, failure, unprocessed: false)
    }

    /// A failure found while carrying out an exchange's call is reported on the next loop turn, so that the
    /// exchange never hears of it in the middle of its own action.
    private func failLater(_ stream: HTTP2UpstreamStream, _ failure: UpstreamFailure, unprocessed: Bool) {
        loop.execute { [self] in
            if unprocessed { stream.markUnprocessed() }
            stream.fail(failure)
            becomeIdleIfUnused()
        }
    }

    // MARK: Bytes out

    /// Frames go out once per loop turn: everything the streams queued meanwhile leaves in one write.
    func scheduleFlush() {
        guard !flushScheduled, state != .closed else { return }
        flushScheduled = true
        loop.flushAfterThisCall(self)  // never inside a stream's call: what the flush sets off reaches streams
    }

    func flushAtEndOfTurn() {
        flushScheduled = false
        flush()
    }

    private func flush() {
        guard state != .closed, state != .connecting else { return }
        var produced: [HTTP2Event] = []
        swap(&produced, &events)
        do {
            try session.send(into: &output, events: &produced)
        } catch {
            writeOutput()
            fail(.http2(error))
            return
        }
        writeOutput()  // before the events go out: what they set off may flush again
        dispatch(&produced)
        swap(&produced, &events)
        if !session.isActive { fail(.closed) }
    }

    private func writeOutput() {
        guard !output.isEmpty else { return }
        stream.write(taking: &output)
    }

    // MARK: ByteStreamDelegate

    func streamDidBecomeReady(_ stream: any ByteStream) {
        if !countedOpen {
            countedOpen = true
            openGauge?.increment()
        }
        if let tls = stream as? TLSStream, tls.negotiatedProtocol != "h2" {
            // The server changed its mind since the pool learned it speaks h2: nothing was sent, so the
            // requests go again (the pool now opens HTTP/1.1).
            pool.learnProtocol(http2: false, key: key)
            for waiting in waiting { waiting.markUnprocessed() }
            fail(.http2(HTTP2Error(.http11Required, "the server did not choose h2 by ALPN")))
            return
        }
        state = .ready
        let ready = waiting
        if let tls = stream as? TLSStream { ready.first?.resumedTLSSession = tls.engine.resumedSession }
        flush()
        for stream in ready { stream.connectionDidBecomeReady() }
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.stream(stream, didReadInPlace: $0) }
    }

    /// Straight from the loop's read buffer: nghttp2 copies what it keeps, and the events own their bytes.
    func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer) {
        var received: [HTTP2Event] = []
        swap(&received, &events)
        do {
            try session.receive(bytes, into: &received)
        } catch {
            dispatch(&received)
            swap(&received, &events)
            flush()  // the GOAWAY the session queued
            fail(.http2(error))
            return
        }
        dispatch(&received)
        swap(&received, &events)
        flush()
    }

    func streamDidReachEOF(_ stream: any ByteStream) { fail(.closed) }

    func streamDidDrainWrites(_ stream: any ByteStream) {}

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        fail(error.map { .network($0) } ?? .closed)
    }

    // MARK: Events

    /// Hands each event to its stream and applies the connection-wide ones; empties `events`.
    private func dispatch(_ events: inout [HTTP2Event]) {
        defer {
            deliverReports()
            events.removeAllOneByOne()
        }
        for index in events.indices {
            let event = HTTP2Event.take(from: &events[index])
            var toStream: HTTP2UpstreamStream?
            switch event {
            case .interimResponse, .response, .data, .end, .trailers:
                break  // may join the reports under way (`report`)
            default:
                deliverReports()  // whatever follows a stream's response events comes after them
            }
            switch event {
            case .goAway(let lastStreamID, let code, let debug):
                goAway(lastStreamID: lastStreamID, code: code, debug: debug)
            case .remoteSettings(let maxConcurrentStreams, let enableConnectProtocol):
                // `hasRoom` reads the session's current value; WebSocket handshakes waited for this.
                offersExtendedConnect = enableConnectProtocol
                pool.learnStreamLimit(maxConcurrentStreams, key: key)
                for stream in waiting where stream.pendingExtendedConnect != nil {
                    stream.settingsKnown(offersExtendedConnect: enableConnectProtocol)
                }
            case .streamClosed(let id, let code):
                guard let stream = streams.removeValue(forKey: id) else { continue }
                if code == .noError { completedStreams += 1 }
                stream.closed(code)
                becomeIdleIfUnused()
            case .request:
                break  // a client session never gets requests
            case .interimResponse(let id, _), .response(let id, _, _), .data(let id, _), .end(let id),
                .trailers(let id, _), .headersTooLarge(let id), .dataDrained(let id):
                guard let stream = streams[id] else {
                    // A stream the exchange let go of: its window is still the connection's.
                    if case .data(_, let bytes) = event { session.consume(stream: id, count: bytes.count) }
                    continue
                }
                toStream = stream
            }
            if let toStream { toStream.handle(event) }  // its last use: moved, not copied
        }
    }

    /// A stream's response events from one read, for its exchange in one call: the head, the body and the end
    /// of a small response arrive together, and each call flushed the client's side once more. A run ends
    /// with another stream's event, any other event, or the end of the read's events (`dispatch`).
    func report(_ event: consuming HTTP1ResponseEvent, from stream: HTTP2UpstreamStream) {
        if let reporting, reporting !== stream { deliverReports() }
        reporting = stream
        // A run is usually head, body and end: room for them at once (grown from empty, three allocations).
        if reports.isEmpty { reports.reserveCapacity(4) }
        reports.append(event)
    }

    /// Hands the run of reports under way to its stream's exchange.
    func deliverReports() {
        guard let stream = reporting else { return }
        reporting = nil
        var run: [HTTP1ResponseEvent] = []
        swap(&run, &reports)
        stream.deliver(&run)
        // The array goes back for the next run unless delivering started one (a new run has its own).
        run.removeAllOneByOne()
        if reports.isEmpty { swap(&run, &reports) }
    }

    /// RFC 9113 §6.8: streams above `lastStreamID` were not processed and may go again on another
    /// connection; the ones at or below it finish here. No new stream starts on this connection.
    private func goAway(lastStreamID: Int32, code: HTTP2ErrorCode, debug: String) {
        if state == .ready || state == .connecting { state = .draining }
        if code != .noError {
            goAwayError = HTTP2Error(code, "GOAWAY from the server\(debug.isEmpty ? "" : " (\(debug.prefix(200)))")")
        }
        pool.removeHTTP2(self)
        for (id, stream) in streams where id > lastStreamID { stream.markUnprocessed() }
        for stream in waiting { stream.markUnprocessed() }
        let unstarted = waiting
        waiting = []
        for stream in unstarted {
            stream.fail(.http2(HTTP2Error(code, "GOAWAY before the stream was opened\(debug.isEmpty ? "" : ": \(debug)")")))
        }
        becomeIdleIfUnused()
    }

    /// The whole connection ended: every stream still open fails (those provably unprocessed go again).
    private func fail(_ failure: UpstreamFailure) {
        guard state != .closed else { return }
        state = .closed
        keepAliveTimer?.cancel()
        keepAliveTimer = nil
        pool.removeHTTP2(self)
        if countedOpen { openGauge?.decrement() }
        let open = Array(streams.values) + waiting
        streams.removeAll()
        waiting = []
        // After a GOAWAY with an error the closing socket is its consequence: the code tells more.
        let reported = goAwayError.map { UpstreamFailure.http2($0) } ?? failure
        for stream in open { stream.fail(reported) }
        stream.close()
    }

    /// Closes without failing anyone (pool shutdown, idle timeout): GOAWAY first, as RFC 9113 §6.8 asks.
    func close() {
        guard state != .closed else { return }
        if state != .connecting {
            session.goAway(code: .noError)
            flush()
        }
        fail(.closed)
    }

    // MARK: Idle keep-alive

    /// A keep-alive timer still armed finds the connection busy when it fires, and stops.
    private func becomeBusy() { idleSince = nil }

    private func becomeIdleIfUnused() {
        guard streams.isEmpty, waiting.isEmpty, state != .closed else { return }
        if state == .draining {
            close()  // GOAWAY came and everything finished
            return
        }
        guard idleSince == nil else { return }
        idleSince = loop.now
        // One timer at a time, armed by the first idle moment after it last stopped: a busy connection goes
        // idle between bursts of requests, and arming and cancelling a timer each time cost a heap insertion
        // and a removal per request.
        if keepAliveTimer == nil { armKeepAlive(after: keepAliveDelay) }
    }

    /// How often an idle connection is pinged: at least twice per idle timeout.
    private var keepAliveDelay: Duration { min(Self.keepAliveInterval, pool.idleTimeout / 2) }

    private func armKeepAlive(after delay: Duration) {
        keepAliveTimer = loop.schedule(after: delay) { [self] in keepAliveTimerFired() }
    }

    private func keepAliveTimerFired() {
        keepAliveTimer = nil
        // Busy: the next idle moment arms the timer again. Still connecting (every exchange that wanted the
        // connection went away meanwhile) counts as idle too.
        guard let idleSince, state == .ready || state == .connecting else { return }
        let idleFor = loop.elapsed(since: idleSince)
        if idleFor >= pool.idleTimeout {
            close()
            return
        }
        if idleFor < keepAliveDelay {
            // Armed in an earlier idle spell: this one's interval counts from its start.
            armKeepAlive(after: keepAliveDelay - idleFor)
            return
        }
        if state == .ready {
            session.ping()
            flush()
        }
        armKeepAlive(after: min(keepAliveDelay, pool.idleTimeout - idleFor))
    }
}
