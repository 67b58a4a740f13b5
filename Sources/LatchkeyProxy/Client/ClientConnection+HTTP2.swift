import LatchkeyHTTP
import LatchkeyNet
import LatchkeyTLS

/// How a client connection becomes HTTP/2: with prior knowledge (the preface as its first bytes, RFC 9113 §3.3)
/// on the listener, or by ALPN `h2` on an intercepted TLS stream (RFC 9113 §3.2). Either way an
/// `HTTP2ClientConnection` takes over the same stream and this connection is done, as after an interception
/// handoff.
extension ClientConnection {
    /// Where a listener connection is in telling HTTP/2 from HTTP/1.1 (`ClientPreface`).
    enum PrefaceSniff {
        /// Every byte so far matches the preface: held, not yet parsed.
        case sniffing([UInt8])
        /// HTTP/1.1 (or an intercepted connection, where ALPN decides): bytes go to the parser.
        case decided
    }

    /// Adds `bytes` to what the sniff holds. Returns the bytes for the HTTP/1.1 parser (everything held so
    /// far) once they are not the preface; nil while more are needed or after the handoff to HTTP/2. The
    /// header timer armed at accept keeps running meanwhile: a partial preface gets no more time than a head.
    func sniffPreface(_ bytes: [UInt8]) -> [UInt8]? {
        guard case .sniffing(var held) = preface else { return bytes }
        held.append(contentsOf: bytes)
        switch ClientPreface.classify(held) {
        case .needMore:
            preface = .sniffing(held)
            return nil
        case .http1:
            preface = .decided
            return held
        case .http2:
            preface = .decided
            becomeHTTP2(received: held)
            return nil
        }
    }

    /// An intercepted handshake completed: `h2` chosen by ALPN hands the TLS stream over to HTTP/2.
    func adoptNegotiatedProtocol() {
        guard let tls = stream as? TLSStream, tls.engine.negotiatedALPN == "h2" else { return }
        becomeHTTP2(received: [])
    }

    /// Hands the stream over to a new `HTTP2ClientConnection`, which takes this one's place in the registry.
    private func becomeHTTP2(received: [UInt8]) {
        let http2: HTTP2ClientConnection
        do {
            http2 = try HTTP2ClientConnection(
                stream: stream, server: server, pool: pool, interceptedOrigin: interceptedOrigin)
        } catch {
            server.logger.error("cannot start an HTTP/2 session: \(error.detail)")
            closeNow()
            return
        }
        server.handOff(from: self, to: http2)
        detachAfterHandoff()
        http2.start(received: received)
        if serverIsDraining { http2.drain() }
    }
}
