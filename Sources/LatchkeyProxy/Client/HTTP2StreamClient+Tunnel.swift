import LatchkeyHTTP
import LatchkeyNet

/// An HTTP/2 stream as the client side of a WebSocket tunnel (RFC 8441 §5): after the upstream accepted the
/// handshake the stream answers `200`, and from then on its DATA frames carry the WebSocket bytes both ways.
/// The `Tunnel` and its state machine decide everything as for an HTTP/1.1 client's upgrade; this adapter maps
/// their words onto the stream:
/// - bytes to the client are DATA, held by the session while the client's window is closed (`pendingWriteBytes`
///   then grows, and the tunnel stops reading the upstream);
/// - bytes from the client are consumed (the window reopened) only when handed to the tunnel; while the tunnel
///   has paused the client they stay unconsumed, so the client's window closes;
/// - the upstream's FIN is END_STREAM, the client's END_STREAM is its FIN; the tunnel's end resets the stream
///   (CANCEL) unless this side already ended it; a RST_STREAM from the client closes the tunnel.
extension HTTP2StreamClient: TunnelClientSide {
    /// The upstream accepted the WebSocket handshake (`head` is the `101` as an HTTP/1.1 client would get it):
    /// `200` on this stream, then a tunnel between the stream and `upstream`.
    func beginTunnel(
        after head: HTTPResponseHead, upstream: any ByteStream, early: [UInt8], exchange: ForwardExchange
    ) -> Bool {
        guard isWebSocket, !closed, !sentEnd, submit(WebSocketHandshake.http2ClientHead(head), endStream: false)
        else { return false }
        self.exchange = nil  // done with this stream, except for the tunnel's close report
        let tunnel = Tunnel(client: self, upgradedFrom: exchange, upstream: upstream)
        self.tunnel = tunnel
        tunnel.start(early: early)
        pump()  // WebSocket bytes the client sent before the 200
        connection.flush()
        return true
    }

    func tunnelReceived(_ bytes: [UInt8], _ tunnel: Tunnel) {
        if let now = request.receive(bytes, paused: readingPaused) {
            connection.consume(stream: id, count: now.count)
            tunnel.clientSent(now)
        }
        pump()
    }

    /// Held DATA to the tunnel while it reads, then the client's END_STREAM as its FIN.
    func pumpTunnel(_ tunnel: Tunnel) {
        while self.tunnel === tunnel, let step = request.next(paused: readingPaused) {
            switch step {
            case .body(let chunk):
                connection.consume(stream: id, count: chunk.count)
                tunnel.clientSent(chunk)
            case .end:
                tunnel.clientReachedEOF()
            }
        }
    }

    // MARK: TunnelClientSide (pendingWriteBytes and setReadingPaused are the ExchangeClient's)

    func write(_ bytes: [UInt8]) {
        guard !closed, !sentEnd else { return }
        connection.session.sendData(stream: id, bytes)
        connection.flush()
    }

    func shutdownWriting() {
        guard !closed, !sentEnd else { return }
        sentEnd = true
        connection.session.endStream(stream: id)
        connection.flush()
    }

    /// The tunnel is over for `reason`:
    /// - both sides finished (`closed`): this side's END_STREAM, if the upstream's FIN was the second, ends
    ///   the stream cleanly;
    /// - the client reset the stream or its connection went (`clientClosed`): nothing is left to say;
    /// - otherwise (the upstream closed or reset, the idle timeout) the stream is reset: CANCEL when this side
    ///   had not ended it (the bytes stop here), NO_ERROR when it had and nothing waits to be framed (RFC 9113
    ///   §8.1: complete, the client may stop sending); with DATA still queued the END_STREAM behind it is left
    ///   to arrive, and the client ends the stream.
    func endTunnel(_ reason: TunnelStateMachine.CloseReason) {
        tunnel = nil
        // What the client still sends is consumed and dropped (`pump` without a tunnel or an exchange).
        connection.consume(stream: id, count: request.dropHeld())
        guard !closed else { return }
        switch reason {
        case .closed:
            guard !sentEnd else { return }
            sentEnd = true
            connection.session.endStream(stream: id)
        case .clientClosed:
            return
        case .upstreamClosed, .upstreamReset, .idleTimeout:
            if !sentEnd {
                sentEnd = true
                connection.session.resetStream(stream: id, code: .cancel)
            } else {
                connection.session.stopRequestAfterResponse(stream: id)
            }
        }
        connection.flush()
    }

    /// Only a CONNECT tunnel can fail to connect; a WebSocket's upstream is connected already.
    func tunnelFailed(_ error: ProxyError) { answer(error) }
}
