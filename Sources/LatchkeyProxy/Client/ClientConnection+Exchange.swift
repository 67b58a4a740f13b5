import LatchkeyHTTP
import LatchkeyNet

/// HTTP/1.1 as the client side of an exchange: the response head rewritten for the client (`ResponseRewrite`),
/// its body re-chunked where needed, and whether the connection carries another request afterwards.
extension ClientConnection: ExchangeClient {
    func sendInterimResponse(_ head: HTTPResponseHead) {
        // RFC 9110 §15.2: a proxy forwards 1xx responses, except to HTTP/1.0 clients.
        guard requestIsHTTP11 else { return }
        HTTP1Serializer.appendResponseHead(ResponseRewrite.interimHead(head), to: &responseOutput)
    }

    func sendResponseHead(
        _ upstreamHead: consuming HTTPResponseHead, framing: HTTPBodyFraming, requestMethod: String
    ) -> HTTPHeaders {
        var (head, delivery) = ResponseRewrite.clientHead(
            consume upstreamHead, framing: framing, requestMethod: requestMethod, clientIsHTTP11: requestIsHTTP11)
        responseChunked = delivery == .chunked
        // During a graceful shutdown the connection closes after this response, and the response says so
        // (RFC 9112 §9.6: `Connection: close`), so clients do not send another request into a closing socket.
        responseKeepsAlive = requestKeepsAlive && delivery != .untilClose && !serverIsDraining
        if !responseKeepsAlive { head.headers.add(name: "Connection", value: "close") }
        responseOutput.reserveCapacity(512)
        HTTP1Serializer.appendResponseHead(head, to: &responseOutput)
        return head.headers  // written out
    }

    func sendResponseBody(_ chunk: [UInt8]) {
        if responseChunked {
            HTTP1Serializer.appendChunk(chunk, to: &responseOutput)
        } else if responseOutput.isEmpty {
            responseOutput = chunk
        } else {
            responseOutput.append(contentsOf: chunk)
        }
    }

    /// Trailers travel only in a chunked response; a body sent with `Content-Length` or until close drops
    /// them (RFC 9110 §6.5.1 allows discarding).
    func sendResponseEnd(trailers: HTTPHeaders) {
        if responseChunked { HTTP1Serializer.appendLastChunk(trailers: trailers, to: &responseOutput) }
    }

    func flushResponse() {
        guard !responseOutput.isEmpty else { return }
        stream.write(taking: &responseOutput)
    }

    func exchangeDidFail(_ exchange: ForwardExchange, error: ProxyError, requestComplete: Bool) {
        guard exchange === self.exchange else { return }
        self.exchange = nil
        // Keep the connection only when the whole request was read: otherwise the rest of its body would
        // be taken for the next request.
        let whole = requestComplete || exchangeHasWholeRequest
        exchangeHasWholeRequest = false
        respond(error, close: !whole || !requestKeepsAlive || clientReachedEOF || serverIsDraining)
        pausedBySink = false
        if !isClosing {
            armIdleTimer()
            processQueued()
        }
    }

    func exchangeDidFinish(_ exchange: ForwardExchange, closeConnection: Bool) {
        guard exchange === self.exchange else { return }
        flushResponse()
        // The finished request's header storage serves the next request on this connection.
        var headers = exchange.machine.takeRequestHeaders()
        recycleRequestHeaders(&headers)
        self.exchange = nil
        exchangeHasWholeRequest = false
        if closeConnection || !responseKeepsAlive || clientReachedEOF || serverIsDraining {
            closeGracefully()
            return
        }
        pausedBySink = false
        armIdleTimer()
        processQueued()
    }

    /// The 101 goes out, then this connection becomes one side of a `Tunnel` (its parser held what the client
    /// sent behind the handshake: tunnel bytes now). The exchange is dropped here; the tunnel reports to it.
    func beginTunnel(
        after head: HTTPResponseHead, upstream: any ByteStream, early: [UInt8], exchange: ForwardExchange
    ) -> Bool {
        guard exchange === self.exchange, !isClosing else { return false }
        flushResponse()
        HTTP1Serializer.appendResponseHead(head, to: &responseOutput)
        flushResponse()
        self.exchange = nil
        exchangeHasWholeRequest = false
        pausedBySink = false
        let tunnel = Tunnel(client: self, upgradedFrom: exchange, upstream: upstream)
        self.tunnel = tunnel
        tunnel.start(early: early)
        let held = takeHeldTunnelBytes()
        if !held.isEmpty { tunnel.clientSent(held) }
        return true
    }

    func exchangeDidAbort(_ exchange: ForwardExchange) {
        guard exchange === self.exchange else { return }
        flushResponse()
        self.exchange = nil
        exchangeHasWholeRequest = false
        stream.close()
    }
}
