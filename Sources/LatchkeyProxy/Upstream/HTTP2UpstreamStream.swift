import LatchkeyHTTP

/// One HTTP/2 stream as the upstream side of one exchange: the request goes out as HEADERS, DATA and an
/// END_STREAM (or trailers), the response comes back as the same `HTTP1ResponseEvent`s an HTTP/1.1
/// connection reports, so `ForwardExchange` and the state machine stay protocol-neutral.
///
/// Flow control carries back-pressure both ways: response DATA is consumed (the window reopened) only while
/// the exchange reads, i.e. while the client has room; request bytes queue in the session, framed as the
/// server's window allows, and `pendingRequestBytes` reports them to the machine.
final class HTTP2UpstreamStream: ExchangeUpstream, @unchecked Sendable {  // confined to the connection's loop
    /// The response head's storage, once the client side has written it: the session's next block fills it.
    func recycleResponseHeaders(_ headers: consuming HTTPHeaders) { connection.recycle(&headers) }
    func takeSpareRequestHeaders() -> HTTPHeaders { connection.spareRequestHeaders.take() }
    func keepSpareRequestHeaders(_ headers: inout HTTPHeaders) { connection.spareRequestHeaders.giveBack(&headers) }

    /// Where the stream stands, from the exchange's point of view.
    enum State: Equatable {
        /// Handed out; the request head is not sent yet.
        case idle
        /// The request went out; the response is under way.
        case open
        /// The response ended, failed, or the exchange let go.
        case done
    }

    let connection: HTTP2UpstreamConnection
    /// The exchange using the stream; cleared when it lets go (`abandon`, the pool's release) or after the
    /// last report.
    var handler: (any UpstreamConnectionHandler)?
    var id: Int32?
    var state = State.idle
    /// Whether the connection had completed a stream before this one was handed out.
    private let onReusedConnection: Bool
    /// Whether any response frame arrived.
    var receivedResponse = false
    /// Provably not processed by the server (above a GOAWAY's last-stream-id, REFUSED_STREAM, or never opened).
    private var unprocessed = false
    /// The server reset the stream with another code: it may have acted on the request (RFC 9113 §8.7).
    private var resetByServer = false
    /// The request's method, for the response's framing (`HTTPResponseHead.isBodyless`).
    private var requestMethod = ""
    /// The response has no body (HEAD, 204, 304): DATA the server sends anyway is not passed on.
    private var responseIsBodyless = false
    /// Response bytes handed to the exchange while it asked to pause: consumed (window reopened) on resume
    /// or release (`received`).
    private var unconsumed = 0
    private(set) var readingPaused = false
    /// Set on the one stream whose exchange started the connection's TLS handshake (see `ExchangeUpstream`).
    var resumedTLSSession: Bool?
    /// This side sent END_STREAM (or the trailers that end it).
    var requestEnded = false
    /// A WebSocket handshake sent as an extended CONNECT (RFC 8441): the key the `101` made from its `200`
    /// answers (`HTTP2UpstreamStream+WebSocket.swift`), and the head while it waits for the server's SETTINGS.
    var webSocketKey: String?
    var pendingExtendedConnect: HTTP2RequestHead?
    /// After the `101`: the `ByteStream` the tunnel holds; this stream's events go to it.
    var tunnelSide: HTTP2UpstreamTunnel?
    /// Whether the stream still needs an RST_STREAM when the exchange lets go: open on this side or the
    /// server's (a response that came before the whole request body leaves this side open, RFC 9113 §8.1).
    var needsReset: Bool { id != nil && (state == .open || !requestEnded) }

    init(connection: HTTP2UpstreamConnection, handler: any UpstreamConnectionHandler, onReusedConnection: Bool) {
        self.connection = connection
        self.handler = handler
        self.onReusedConnection = onReusedConnection
    }

    // MARK: ExchangeUpstream

    func start() { connection.start() }

    func sendRequest(
        _ head: HTTPRequestHead, framing: HTTPBodyFraming, body: [[UInt8]], end: Bool, trailers: HTTPHeaders
    ) {
        guard state == .idle else { return }
        state = .open
        requestMethod = head.method
        if WebSocketHandshake.isHandshake(head) {
            sendExtendedConnect(head)
            return
        }
        // RFC 9113 §8.3.1: :scheme and :authority from the upstream (the head's Host, which RequestRewrite
        // set to the same authority, moves there); connection-specific fields go, `te: trailers` stays.
        let bodyless = framing == .none || framing == .contentLength(0)
        let endStream = end && trailers.count == 0 && (bodyless || body.allSatisfy(\.isEmpty))
        guard let id = connection.open(self, translating: head, endStream: endStream) else { return }
        self.id = id
        requestEnded = end
        guard !endStream else { return }
        for chunk in body where !chunk.isEmpty { connection.sendData(id, chunk) }
        if end { connection.endStream(id, trailers: trailers) }
    }

    func sendBody(_ chunk: [UInt8], framing: HTTPBodyFraming) {
        guard state == .open, let id, !chunk.isEmpty else { return }
        connection.sendData(id, chunk)
    }

    func sendEnd(framing: HTTPBodyFraming, trailers: HTTPHeaders) {
        guard state == .open, let id else { return }
        requestEnded = true
        connection.endStream(id, trailers: trailers)
    }

    var pendingRequestBytes: Int { id.map { connection.pendingDataBytes($0) } ?? 0 }

    func setResponseReadingPaused(_ paused: Bool) {
        readingPaused = paused
        if !paused { giveBackUnconsumed() }
    }

    /// Manual flow control for `count` bytes of DATA handed on: the window reopens now, or, while the reader
    /// is paused, once it reads again or lets go of the stream.
    func received(_ id: Int32, count: Int) {
        if readingPaused { unconsumed += count } else { connection.consume(id, count: count) }
    }

    /// The window held by bytes handed on while paused goes back to the connection. Also when the stream is
    /// let go of: the connection's window is shared, and each paused response that ended (or whose client
    /// left) would otherwise keep its share for good, until no stream on the connection could receive DATA.
    private func giveBackUnconsumed() {
        guard unconsumed > 0, let id else { return }
        connection.consume(id, count: unconsumed)
        unconsumed = 0
    }

    /// The connection stays for other streams; this one is simply over.
    func allowsReuse(after head: HTTPResponseHead, framing: HTTPBodyFraming) -> Bool { true }

    /// Like a stale pooled HTTP/1.1 connection, the request provably never reached the application: above a
    /// GOAWAY's last-stream-id or refused (RFC 9113 §8.7), or a reused connection closed before any answer.
    /// The machine then sends it again, whatever its method. A stream the server reset itself is none of
    /// these: it was open at the server, which may have acted on it.
    var failedBeforeAnyResponseByte: Bool {
        unprocessed || (onReusedConnection && !receivedResponse && !resetByServer)
    }

    func abandon() { release() }

    /// The exchange is done with the stream (the pool's release, or `abandon`): CANCEL when either side is
    /// still open, nothing when it ended cleanly.
    func release() {
        handler = nil
        giveBackUnconsumed()
        let reset = needsReset
        state = .done
        connection.drop(self, reset: reset)
    }

    // MARK: From the connection

    func connectionDidBecomeReady() {
        handler?.upstreamDidBecomeReady(self)
    }

    func markUnprocessed() { unprocessed = true }

    /// One event of this stream, as the exchange understands it.
    func handle(_ event: consuming HTTP2Event) {
        if let tunnelSide {
            tunnelSide.handle(event)
            return
        }
        guard let handler else {
            if case .data(let id, let bytes) = event { connection.consume(id, count: bytes.count) }  // nobody reads it
            return
        }
        switch consume event {
        case .interimResponse(_, let head):
            receivedResponse = true
            report(.informational(head))
        case .response(_, let head, let endStream):
            receivedResponse = true
            if let webSocketKey, (200...299).contains(head.status), !endStream {
                // RFC 8441 §5: the stream carries the WebSocket now. The exchange sees the 101 it knows, at
                // once: it hands the stream to the tunnel, which takes the DATA that may follow in this read.
                let switched = WebSocketHandshake.switchedHead(head, key: webSocketKey)
                connection.deliverReports()
                var switchedEvents: [HTTP1ResponseEvent] = [.head(switched, .none)]
                handler.upstream(self, didReceive: &switchedEvents)
                return
            }
            responseIsBodyless =
                endStream || HTTPResponseHead.isBodyless(status: head.status, requestMethod: requestMethod)
            let framing = responseIsBodyless ? .none : Self.framing(of: head)
            report(.head(head, framing))
            if endStream {
                report(.end)
                finish()
            }
        case .data(let id, let bytes):
            receivedResponse = true
            guard !responseIsBodyless else {
                // The client side framed this response as having no body: bytes now would be read as the
                // next response on an HTTP/1.1 connection.
                connection.consume(id, count: bytes.count)
                return
            }
            received(id, count: bytes.count)
            report(.body(bytes))
        case .end:
            report(.end)
            finish()
        case .trailers(_, let fields):
            report(.trailers(fields))
            report(.end)
            finish()
        case .headersTooLarge:
            fail(.http2(HTTP2Error(.protocolError, "the response header section is larger than the proxy accepts")))
        case .dataDrained:
            handler.upstreamDidDrainWrites(self)
        case .request, .streamClosed, .goAway, .remoteSettings:
            break  // the connection's
        }
    }

    /// Response events go to the exchange through the connection, which hands it those of one read together
    /// (`HTTP2UpstreamConnection.report`).
    private func report(_ event: consuming HTTP1ResponseEvent) { connection.report(event, from: self) }

    /// The events `report` gathered, for the exchange (if it is still there).
    func deliver(_ events: inout [HTTP1ResponseEvent]) {
        handler?.upstream(self, didReceive: &events)
    }

    /// The stream closed (its last event). Before the response ended that is a failure: REFUSED_STREAM (or a
    /// stream above a GOAWAY's last-stream-id, which nghttp2 closes that way) goes again; any other code is a
    /// 502 naming it.
    func closed(_ code: HTTP2ErrorCode) {
        if let tunnelSide {
            tunnelSide.streamClosed(code)
            return
        }
        guard state != .done, handler != nil else { return }
        if code == .refusedStream { unprocessed = true } else { resetByServer = true }
        let detail = unprocessed ? "the server did not process the stream" : "the stream was reset"
        fail(.http2(HTTP2Error(code == .noError ? .internalError : code, detail)))
    }

    /// Reports `failure` to the exchange (once). A stream the server provably did not process is reported as
    /// refused whatever ended it, so that the machine sends the request again.
    func fail(_ failure: UpstreamFailure) {
        if let tunnelSide {
            tunnelSide.failed(failure)
            return
        }
        guard let handler, state != .done else { return }
        state = .done
        self.handler = nil
        var reported = failure
        if unprocessed, !ExchangeStateMachine.isRefusedStream(failure) {
            reported = .http2(HTTP2Error(.refusedStream, "the server did not process the stream (\(failure))"))
        }
        handler.upstream(self, didFail: reported)
    }

    private func finish() {
        // The handler stays until the exchange releases or abandons the stream; no more events come.
        state = .done
    }

    /// The body framing an HTTP/2 response announces: its `content-length` (checked against the DATA by the
    /// codec), or a body delimited by END_STREAM, which the client side re-frames like a chunked one.
    static func framing(of head: HTTPResponseHead) -> HTTPBodyFraming {
        head.headers.declaredContentLength.map { .contentLength($0) } ?? .chunked
    }
}
