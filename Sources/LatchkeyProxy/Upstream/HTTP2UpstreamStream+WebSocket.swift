import LatchkeyHTTP
import LatchkeyNet

/// A WebSocket handshake on an HTTP/2 upstream stream (RFC 8441): the HTTP/1.1-shaped handshake the exchange
/// sends becomes an extended CONNECT, once the server's SETTINGS are known (§3: only to a server that
/// announced SETTINGS_ENABLE_CONNECT_PROTOCOL); a server that did not gets none, and the stream fails with
/// HTTP_1_1_REQUIRED, on which the exchange sends the handshake again over HTTP/1.1
/// (`ExchangeStateMachine.attemptFailed`). The server's `2xx` reaches the exchange as the `101` it knows
/// (`WebSocketHandshake.switchedHead`), and `takeOverForTunnel` hands the stream to the tunnel as a
/// `ByteStream` (`HTTP2UpstreamTunnel`).
extension HTTP2UpstreamStream {
    func sendExtendedConnect(_ head: HTTPRequestHead) {
        let (h2Head, key) = WebSocketHandshake.extendedConnect(
            head, scheme: connection.endpoint.scheme, authority: connection.endpoint.authority)
        webSocketKey = key
        pendingExtendedConnect = h2Head
        connection.openWhenSettingsKnown(self)
    }

    /// The server's SETTINGS are known (now or already): open the extended CONNECT, or fail the stream.
    func settingsKnown(offersExtendedConnect: Bool) {
        guard let h2Head = pendingExtendedConnect else { return }
        pendingExtendedConnect = nil
        guard offersExtendedConnect else {
            connection.refuseLater(
                self,
                .http2(
                    HTTP2Error(
                        .http11Required,
                        "the HTTP/2 server does not offer extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441) for a WebSocket"
                    )))
            return
        }
        // The stream stays open this way: END_STREAM is the WebSocket's end, sent by the tunnel.
        if let id = connection.open(self, h2Head, endStream: false) { self.id = id }
    }

    /// After the `101` made from the server's `2xx`: the stream leaves the exchange for the tunnel.
    func takeOverForTunnel() -> (stream: any ByteStream, early: [UInt8])? {
        guard webSocketKey != nil, tunnelSide == nil, state == .open, id != nil else { return nil }
        handler = nil
        let side = HTTP2UpstreamTunnel(stream: self)
        tunnelSide = side
        return (side, [])
    }
}
