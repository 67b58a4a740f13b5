import LatchkeyHTTP

/// A new request on an HTTP/2 connection: planned exactly as an HTTP/1.1 request with the same head
/// (`HTTP2RequestHead.http1Head`: origin-form, `Host` = `:authority`), then run by its own exchange or
/// answered on its stream.
extension HTTP2ClientConnection {
    func beginRequest(stream id: Int32, _ received: consuming HTTP2RequestHead, endStream: Bool) {
        let client = HTTP2StreamClient(id: id, connection: self, isGRPC: GRPCStatus.isGRPC(received.headers))
        streams[id] = client
        streamBegan()
        // The HTTP/1.1-shaped head is built in storage a finished request handed back (`exchangeDidFinish`),
        // and the received head's storage goes back once this request no longer reads it (below).
        var head = received.http1Head(reusing: session.takeSpareHeaders())
        defer { session.recycle(&received.headers) }
        let runtime = server.runtime
        // An extended CONNECT (RFC 8441 §4) is planned as the HTTP/1.1 WebSocket handshake it stands for.
        var webSocketAccept: String?
        if received.method == "CONNECT", received.protocol != nil {
            let key = WebSocketHandshake.makeKey()
            switch WebSocketHandshake.handshake(fromExtendedConnect: received, key: key) {
            case .refused(let status, let reason):
                let error = ProxyError(.badRequest, reason, status: status)
                recordRejected(head, status: error.status, error: error.errorName)
                client.answer(error)
                if endStream { client.receivedEnd(trailers: HTTPHeaders()) }
                return
            case .webSocket(let handshake):
                head = handshake
                webSocketAccept = WebSocketHandshake.accept(for: key)
                client.isWebSocket = true
            }
        }
        // Switched on as consumed, so that the plan and the head move into the exchange rather than being copied.
        let planned = plan(head, scheme: received.scheme, authority: received.authority, runtime: runtime)
        switch consume planned {
        case .reject(let error):
            recordRejected(head, status: error.status, error: error.errorName)
            client.answer(error)
        case .tunnel, .intercept:
            // RFC 9113 §8.5 plain CONNECT: a TCP tunnel per stream. Not offered: a tunnel hides its requests from
            // the proxy, so it could inject nothing (HTTP/1.1 CONNECT serves passthrough and interception).
            // WebSockets use extended CONNECT (RFC 8441), planned above as a handshake.
            let error = ProxyError(
                .badRequest,
                "CONNECT over HTTP/2 is not supported; send CONNECT over HTTP/1.1, or extended CONNECT with :protocol websocket for a WebSocket")
            recordRejected(head, status: error.status, error: error.errorName)
            client.answer(error)
        case .respond(let response):
            recordRejected(head, status: response.status, error: "answered_by_proxy")
            client.answer(response)
        case .forward(var plan):
            if client.isWebSocket {
                // The key is the proxy's, so the proxy checks the upstream's Sec-WebSocket-Accept.
                plan.webSocketAccept = webSocketAccept
            }
            let framing = client.isWebSocket ? .none : Self.framing(of: head, endStream: endStream)
            let exchange = ForwardExchange(
                client: client, plan: plan, requestHead: head, framing: framing, upstreams: pool,
                loop: loop, log: server.accessLog, runtime: runtime, timer: lendExchangeTimer())
            client.exchange = exchange
            exchange.start()
        }
        if endStream { client.receivedEnd(trailers: HTTPHeaders()) }
    }

    /// `RequestRewrite.plan` for the HTTP/1.1-shaped head. HTTP/2 has no absolute-form: a client using the
    /// proxy as a forward proxy names the origin in `:authority` like any other request (RFC 9113 §8.3.1). So
    /// a request no origin-form route serves (404 `no_route`) is planned again as the absolute-form request
    /// `scheme://authority/path`, which forward-mode routes (host without upstream) and `unmatched` then
    /// decide exactly as for an HTTP/1.1 proxy request. Route mode and virtual-host routes match first, as
    /// they do for HTTP/1.1 origin-form; when the second plan refuses too, the client gets the first refusal
    /// (404 `no_route`, which names the route-mode fix). Inside interception the origin is fixed and no second
    /// plan is made.
    private func plan(_ head: HTTPRequestHead, scheme: String?, authority: String?, runtime: ProxyRuntime)
        -> RequestPlan
    {
        let planned = RequestRewrite.plan(head, runtime: runtime, origin: interceptedOrigin)
        guard interceptedOrigin == nil, case .reject(let error) = planned, error.code == .noRoute,
            let authority, !authority.isEmpty, head.target.hasPrefix("/")
        else { return planned }
        var absolute = head
        absolute.target = "\(scheme ?? "http")://\(authority)\(head.target)"
        let asProxyRequest = RequestRewrite.plan(absolute, runtime: runtime)
        if case .reject = asProxyRequest { return planned }
        return asProxyRequest
    }

    /// How the request body is delimited for the exchange (and an HTTP/1.1 upstream): none when the HEADERS
    /// ended the stream; `Content-Length` when the client sent one (the codec checks the DATA against it,
    /// RFC 9113 §8.1.1); otherwise chunked, as an HTTP/1.1 client streaming a body of unknown length.
    static func framing(of head: HTTPRequestHead, endStream: Bool) -> HTTPBodyFraming {
        if endStream { return .none }
        if let length = head.headers.declaredContentLength {
            return length == 0 ? .none : .contentLength(length)
        }
        return .chunked
    }

    private func recordRejected(_ head: HTTPRequestHead, status: Int, error: String) {
        if let interceptedOrigin {
            server.accessLog.recordInterceptedRejected(
                origin: interceptedOrigin, method: head.method, target: head.target, status: status, error: error,
                runtime: server.runtime, protocolName: "h2")
        } else {
            server.accessLog.recordRejected(
                method: head.method, target: head.target, status: status, error: error, runtime: server.runtime,
                protocolName: "h2")
        }
    }
}
