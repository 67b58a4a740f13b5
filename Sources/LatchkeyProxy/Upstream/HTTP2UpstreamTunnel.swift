import LatchkeyHTTP
import LatchkeyNet

/// One HTTP/2 upstream stream as the upstream side of a WebSocket `Tunnel` (RFC 8441 §5): a `ByteStream`
/// whose bytes are the stream's DATA. Writes queue in the session (framed as the server's window allows:
/// `pendingWriteBytes`); reading paused leaves DATA unconsumed, so the server's window closes. END_STREAM
/// both ways is the FIN; `close` resets the stream (CANCEL) unless both sides ended it.
///
/// Confined to the connection's loop, which is the client's loop too (pools are per loop).
final class HTTP2UpstreamTunnel: ByteStream, @unchecked Sendable {  // confined to the stream's loop
    private let stream: HTTP2UpstreamStream
    var delegate: (any ByteStreamDelegate)?
    private var isClosed = false
    /// Held from `close` until its `didClose` is delivered.
    private var closingDelegate: (any ByteStreamDelegate)?

    init(stream: HTTP2UpstreamStream) { self.stream = stream }

    var loop: EventLoop { stream.connection.loop }

    var pendingWriteBytes: Int { stream.id.map { stream.connection.pendingDataBytes($0) } ?? 0 }

    /// Open already: the `2xx` came.
    func start() {}

    func write(_ bytes: [UInt8]) {
        guard !isClosed, !stream.requestEnded, let id = stream.id, !bytes.isEmpty else { return }
        stream.connection.sendData(id, bytes)
    }

    func setReadingPaused(_ paused: Bool) { stream.setResponseReadingPaused(paused) }

    func shutdownWriting() {
        guard !isClosed, !stream.requestEnded, let id = stream.id else { return }
        stream.requestEnded = true
        stream.connection.endStream(id, trailers: HTTPHeaders())
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        stream.release()
        // As a socket's: `didClose` once, on a later turn (never inside the caller's own action).
        closingDelegate = delegate
        delegate = nil
        loop.execute { [self] in
            let delegate = closingDelegate
            closingDelegate = nil
            delegate?.stream(self, didCloseWith: nil)
        }
    }

    // MARK: From the stream

    func handle(_ event: HTTP2Event) {
        guard !isClosed, let delegate else { return }
        switch event {
        case .data(let id, let bytes):
            stream.received(id, count: bytes.count)
            delegate.stream(self, didRead: bytes)
        case .end, .trailers:
            delegate.streamDidReachEOF(self)
        case .dataDrained:
            delegate.streamDidDrainWrites(self)
        case .headersTooLarge:
            failed(
                .http2(HTTP2Error(.protocolError, "the WebSocket stream's trailers are larger than the proxy accepts")))
        case .interimResponse, .response, .request, .streamClosed, .goAway, .remoteSettings:
            break
        }
    }

    /// The session closed the stream: cleanly after both END_STREAMs, else reset by the server.
    func streamClosed(_ code: HTTP2ErrorCode) {
        stream.state = .done
        guard code != .noError else {
            finish(nil)
            return
        }
        finish(NetError(.reset, "the HTTP/2 server reset the WebSocket stream (\(code.name))"))
    }

    /// The whole connection failed.
    func failed(_ failure: UpstreamFailure) {
        stream.state = .done
        finish(NetError(.reset, "the HTTP/2 connection carrying the WebSocket failed: \(failure)"))
    }

    private func finish(_ error: NetError?) {
        guard !isClosed else { return }
        isClosed = true
        let delegate = self.delegate
        self.delegate = nil
        delegate?.stream(self, didCloseWith: error)
    }
}
