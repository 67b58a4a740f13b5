import LatchkeyNet
import LatchkeyTLS

/// TLS interception on the client side (see `InterceptionHandoff` and `RequestPlanner.planIntercepted`).
///
/// The plain connection that received `CONNECT host:port` starts an `InterceptionHandoff`, which answers `200`
/// and replaces it with a new `ClientConnection` whose stream is a server `TLSStream` over the same socket and
/// whose `interceptedOrigin` is the CONNECT authority. That connection is an ordinary client connection in every
/// other respect (pipelining, timers, back-pressure, draining): the same code serves TCP and TLS.
extension ClientConnection {
    var accessLog: AccessLog { server.accessLog }

    /// An intercepted CONNECT was planned: hold the bytes behind it and get the leaf certificate.
    func beginInterception(_ origin: InterceptedOrigin, runtime: ProxyRuntime, early: [UInt8]) {
        let handoff = InterceptionHandoff(client: self, origin: origin, runtime: runtime)
        tunnel = handoff
        if !early.isEmpty { handoff.clientSent(early) }
        handoff.start()
    }

    /// The client completed the TLS handshake (it trusts the CA and its SNI, if any, named the CONNECT host).
    func interceptedHandshakeDidComplete() {
        guard let origin = interceptedOrigin, !interceptionEstablished else { return }
        interceptionEstablished = true
        let runtime = server.runtime
        runtime.metrics.interception.recordEstablished()
        let tls = stream as? TLSStream
        accessLog.recordInterceptOpen(
            origin: origin, tlsVersion: tls?.engine.negotiatedVersion, alpn: tls?.engine.negotiatedALPN)
        adoptNegotiatedProtocol()
    }

    /// The connection closed before the handshake completed: the client refused the certificate (it does not
    /// trust the CA), sent an SNI for another host, was not TLS, or timed out. Nothing went upstream.
    func interceptedHandshakeDidFail(_ error: NetError?) {
        guard let origin = interceptedOrigin else { return }
        let runtime = server.runtime
        runtime.metrics.interception.recordHandshakeFailed()
        accessLog.recordInterceptHandshakeFailed(
            origin: origin, reason: error?.detail ?? "the connection closed before the TLS handshake completed",
            runtime: runtime)
    }
}
