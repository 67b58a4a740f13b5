import LatchkeyNet
import LatchkeyTLS

/// The pool as the exchange's source of HTTP/1.1 upstream connections.
extension UpstreamPool: ExchangeUpstreamSource {
    func upstream(
        endpoint: UpstreamEndpoint, tls: TLSClientContext?, connectTimeout: Duration,
        handler: any UpstreamConnectionHandler
    ) -> Result<(upstream: any ExchangeUpstream, ready: Bool), UpstreamFailure> {
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

    func release(_ upstream: any ExchangeUpstream, tls: TLSClientContext?) {
        // Only this pool's own kind comes back here; anything else (or a closed one) is not kept.
        guard let connection = upstream as? UpstreamConnection, !connection.isClosed else {
            upstream.abandon()
            return
        }
        release(connection, tls: tls)
    }
}
