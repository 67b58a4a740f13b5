import LatchkeyHTTP

/// One HTTP/2 stream as the client side of its exchange (`ExchangeClient`): request DATA and the end of the
/// request go to the exchange, the response goes into the connection's session on this stream. The exchange
/// itself does not know it is HTTP/2.
///
/// Flow control (the session never opens a window by itself): DATA is handed on and consumed at once while the
/// exchange reads; while it has paused reading (its upstream is full) DATA is held unconsumed
/// (`HTTP2RequestBody`), so the client's stream window closes and bounds what is held.
///
/// Lives on the connection's loop. Held by the connection until the session reports the stream closed, and by
/// its exchange until that finishes: the cycle with the connection is broken when the stream is dropped.
final class HTTP2StreamClient: ExchangeClient, @unchecked Sendable {  // confined to the connection's loop
    let id: Int32
    let connection: HTTP2ClientConnection
    /// The request is a gRPC call: the proxy's own errors are answered as gRPC statuses (`GRPCStatus`).
    let isGRPC: Bool
    /// The exchange answering this stream; nil once it finished, or when the proxy answered itself.
    var exchange: ForwardExchange?
    /// An extended CONNECT for a WebSocket (RFC 8441): until the handshake is answered, its DATA (WebSocket
    /// bytes, not a request body) is held for the tunnel; after a `101` upstream the stream is one side of
    /// `tunnel` (`HTTP2StreamClient+Tunnel.swift`).
    var isWebSocket = false
    /// The WebSocket tunnel this stream carries; nil before the handshake and once the tunnel ended.
    var tunnel: Tunnel?
    /// This side ended the stream (END_STREAM queued) or reset it: nothing more can be sent on it.
    var sentEnd = false
    /// The session closed the stream.
    var closed = false
    var request = HTTP2RequestBody()
    var readingPaused = false
    /// Whether the response's HEADERS already ended the stream (a response without body: no DATA follows).
    private var responseEndedWithHead = false

    init(id: Int32, connection: HTTP2ClientConnection, isGRPC: Bool) {
        self.id = id
        self.connection = connection
        self.isGRPC = isGRPC
    }

    var requestComplete: Bool { request.isComplete }

    // MARK: Request side (from the connection)

    func received(_ bytes: [UInt8]) {
        if let tunnel {
            tunnelReceived(bytes, tunnel)
            return
        }
        if let now = request.receive(bytes, paused: readingPaused || exchange == nil || isWebSocket) {
            exchange?.clientBody(now)
            connection.consume(stream: id, count: now.count)
        }
        pump()
    }

    /// The client ended the stream: the request is complete once held DATA went to the exchange.
    func receivedEnd(trailers: HTTPHeaders) {
        request.receiveEnd(trailers: trailers)
        pump()
    }

    /// Hands what the exchange may take now to it, one step at a time (it may pause, finish or fail in
    /// between); without an exchange what is held is consumed and dropped.
    func pump() {
        if let tunnel {
            pumpTunnel(tunnel)
            return
        }
        // A WebSocket handshake in flight: what arrived is for the tunnel, if it opens.
        if isWebSocket, exchange != nil { return }
        while let exchange, let step = request.next(paused: readingPaused) {
            switch step {
            case .body(let chunk):
                exchange.clientBody(chunk)
                connection.consume(stream: id, count: chunk.count)
            case .end(let trailers):
                exchange.clientEnd(trailers: trailers)  // RequestRewrite strips what may not be a trailer
            }
        }
        if exchange == nil { connection.consume(stream: id, count: request.dropHeld()) }
    }

    // MARK: Connection events

    /// Every byte queued for this stream is framed, or the socket's backlog (and this stream's share of it)
    /// shrank: the exchange may resume its upstream.
    func writesDrained() {
        exchange?.clientDidDrainWrites()
        tunnel?.clientDrained()
    }

    /// The session closed the stream. Closed with an error code (the client reset it, or the session did):
    /// the exchange is abandoned as when an HTTP/1.1 client goes away.
    func streamClosed(_ code: HTTP2ErrorCode) { clientWentAway() }

    /// The stream or the connection closed: nothing more can be sent or received. Held DATA is consumed (it
    /// counts against the connection's window too).
    func clientWentAway() {
        closed = true
        let exchange = self.exchange
        self.exchange = nil
        connection.consume(stream: id, count: request.close())
        if let exchange {
            exchange.cancel()
            connection.takeBack(exchange.timer)
        }
        if let tunnel {
            self.tunnel = nil
            tunnel.close()
        }
    }

    // MARK: Answers by the proxy itself

    /// The same status, `X-Latchkey-Error` and JSON body as over HTTP/1.1; for a gRPC call a trailers-only
    /// gRPC status instead, which gRPC clients report as such (a JSON body would be a malformed response).
    func answer(_ error: ProxyError) {
        if isGRPC {
            sentEnd = true
            submit(GRPCStatus.response(for: error, scrubber: connection.server.scrubber), endStream: true)
            stopUnfinishedRequest()
            connection.scheduleFlush()
            return
        }
        let body = error.jsonBody(scrubber: connection.server.scrubber)
        answer(error.responseHead(bodyCount: body.count), body: body)
    }

    func answer(_ response: LocalResponse) { answer(response.head, body: response.body) }

    private func answer(_ head: HTTPResponseHead, body: [UInt8]) {
        sentEnd = true
        submit(head, endStream: body.isEmpty)
        if !body.isEmpty {
            connection.session.sendData(stream: id, body)
            connection.session.endStream(stream: id)
        }
        stopUnfinishedRequest()
        connection.scheduleFlush()
    }

    /// The response is complete: a request the client is still sending is asked to stop (RST_STREAM with
    /// NO_ERROR once the response is framed, RFC 9113 §8.1), so that the stream closes rather than wait,
    /// half-closed, for the rest of a body nobody will read.
    private func stopUnfinishedRequest() {
        guard !closed, !request.isComplete else { return }
        connection.session.stopRequestAfterResponse(stream: id)
    }

    /// Response heads go out with the fields HTTP/2 allows (RFC 9113 §8.2.2: the session's field list drops the
    /// others). A stream the client already reset cannot take one: nothing to do then.
    @discardableResult
    func submit(_ head: consuming HTTPResponseHead, endStream: Bool) -> Bool {
        head.version = .http2
        do {
            try connection.session.submitResponse(stream: id, head, endStream: endStream)
            return true
        } catch {
            return false
        }
    }

    // MARK: ExchangeClient

    var pendingWriteBytes: Int { connection.pendingWriteBytes(stream: id) }

    func setReadingPaused(_ paused: Bool) {
        readingPaused = paused
        guard !paused else { return }
        pump()
        // A tunnel resumes from the upstream's events, outside any flush of this connection: the WINDOW_UPDATE
        // for what was consumed must go out now.
        if tunnel != nil { connection.flush() }
    }

    func sendInterimResponse(_ head: HTTPResponseHead) {
        var interim = ResponseRewrite.interimHead(head)
        interim.version = .http2
        try? connection.session.submitInterimResponse(stream: id, interim)
    }

    func sendResponseHead(
        _ upstreamHead: consuming HTTPResponseHead, framing: HTTPBodyFraming, requestMethod: String
    ) -> HTTPHeaders {
        // The HTTP/1.1 rules decide the fields (hop-by-hop removed, Via added, Content-Length kept where it
        // describes the body); HTTP/2 frames the body itself, so the chunked coding they may add goes again.
        let (head, _) = ResponseRewrite.clientHead(
            consume upstreamHead, framing: framing, requestMethod: requestMethod, clientIsHTTP11: true)
        // No body (HEAD, 204, 304): END_STREAM on the HEADERS rather than an empty DATA frame after them.
        responseEndedWithHead = framing == .none
        submit(head, endStream: responseEndedWithHead)
        return head.headers  // nghttp2 copied the block
    }

    func sendResponseBody(_ chunk: [UInt8]) { connection.session.sendData(stream: id, chunk) }

    /// `trailers` come from `ResponseRewrite` (credentials and framing fields gone); HTTP/2 carries them as a
    /// HEADERS frame ending the stream (RFC 9113 §8.1), whatever the upstream's framing was.
    func sendResponseEnd(trailers: HTTPHeaders) {
        sentEnd = true
        if !responseEndedWithHead { connection.session.endStream(stream: id, trailers: trailers) }
        stopUnfinishedRequest()
    }

    func flushResponse() { connection.scheduleFlush() }

    func exchangeDidFinish(_ exchange: ForwardExchange, closeConnection: Bool) {
        // `closeConnection` (request body not read to its end) concerns this stream only: what the client
        // still sends is consumed and dropped.
        if finished(exchange) {
            // The finished request's header storage serves a later request on this connection.
            var headers = exchange.machine.takeRequestHeaders()
            connection.session.recycle(&headers)
        }
        connection.scheduleFlush()
    }

    func exchangeDidAbort(_ exchange: ForwardExchange) {
        guard finished(exchange) else { return }
        // The response was cut off: resetting the stream is the only honest signal (RFC 9113 §8.1).
        sentEnd = true
        connection.session.resetStream(stream: id, code: .internalError)
        connection.scheduleFlush()
    }

    func exchangeDidFail(_ exchange: ForwardExchange, error: ProxyError, requestComplete: Bool) {
        guard finished(exchange) else { return }
        answer(error)
    }

    /// Drops the exchange (and what it had not taken of the request). False when it is not this stream's.
    @discardableResult
    private func finished(_ exchange: ForwardExchange) -> Bool {
        guard exchange === self.exchange else { return false }
        self.exchange = nil
        connection.takeBack(exchange.timer)
        pump()  // with no exchange: what is held is consumed and dropped
        return true
    }
}
