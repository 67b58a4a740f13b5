import LatchkeyConfig
import LatchkeyNet
import LatchkeyTLS

/// The pool as the exchange's source of upstreams: HTTP/1.1 connections, or streams of HTTP/2 connections
/// (see `UpstreamPool+HTTP2` for which).
extension UpstreamPool: ExchangeUpstreamSource {
    func upstream(
        endpoint: UpstreamEndpoint, tls: TLSClientContext?, http2: HTTP2Mode, connectTimeout: Duration,
        handler: any UpstreamConnectionHandler
    ) -> Result<(upstream: any ExchangeUpstream, ready: Bool), UpstreamFailure> {
        if http2 != .never {
            let key = PoolKey(endpoint: endpoint, tls: tls.map(ObjectIdentifier.init))
            if usesHTTP2(key, isTLS: endpoint.isTLS, mode: http2) == true {
                return http2Stream(key: key, tls: tls, connectTimeout: connectTimeout, handler: handler)
            }
        }
        if let pooled = takeIdle(endpoint: endpoint, tls: tls) {
            pooled.handler = handler
            return .success((pooled, true))
        }
        do {
            let fresh = try UpstreamConnection(
                endpoint: endpoint, tls: tls, loop: loop, connectTimeout: connectTimeout,
                openGauge: openConnections, ownListeners: ownListeners)
            fresh.handler = handler
            return .success((fresh, false))
        } catch {
            return .failure(.network(NetError(.tlsFailed, "\(error)")))
        }
    }

    func upstreamDidConnect(
        _ upstream: any ExchangeUpstream, tls: TLSClientContext?, handler: any UpstreamConnectionHandler
    ) -> any ExchangeUpstream {
        guard let connection = upstream as? UpstreamConnection else { return upstream }
        return adoptIfHTTP2(connection, tls: tls, handler: handler)
    }

    func release(_ upstream: any ExchangeUpstream, tls: TLSClientContext?) {
        if let stream = upstream as? HTTP2UpstreamStream {
            stream.release()  // its connection stays in the pool for the next streams
            return
        }
        // Only this pool's own kind comes back here; anything else (or a closed one) is not kept.
        guard let connection = upstream as? UpstreamConnection, !connection.isClosed else {
            upstream.abandon()
            return
        }
        release(connection, tls: tls)
    }
}
