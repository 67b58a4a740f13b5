import LatchkeyAuth
import LatchkeyHTTP

/// WebSocket over HTTP/2 (RFC 8441): the translations between an extended CONNECT and the HTTP/1.1 opening
/// handshake (RFC 6455 §4), so that the exchange, the router and the rewrite step see one kind of handshake
/// whatever each side speaks. Pure, like the rest of `WebSocketHandshake`.
///
/// - An h2 client's `CONNECT` + `:protocol websocket` becomes an HTTP/1.1 `GET` with `Upgrade: websocket` and a
///   `Sec-WebSocket-Key` the proxy makes (RFC 8441 §5: the key and `Sec-WebSocket-Accept` are not used over
///   HTTP/2); the upstream's `101` must then carry the matching accept (`accept(for:)`), and becomes `200`.
/// - Towards an h2 upstream that announced SETTINGS_ENABLE_CONNECT_PROTOCOL the same HTTP/1.1-shaped handshake
///   becomes an extended CONNECT, and its `200` becomes the `101` the exchange expects.
extension WebSocketHandshake {
    /// The GUID of RFC 6455 §1.3 that `Sec-WebSocket-Accept` hashes with the key.
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4).
    static func accept(for key: String) -> String {
        Base64.encode(Digest.sha1(Array((key + acceptGUID).utf8)))
    }

    /// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1 step 7). It proves nothing secret,
    /// so the system generator (getrandom) is enough.
    static func makeKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    // MARK: h2 client → the handshake the exchange forwards

    /// What an extended CONNECT from an HTTP/2 client asks.
    enum ExtendedConnect: Equatable {
        /// `:protocol websocket`: the HTTP/1.1 handshake to plan and forward (its key is the proxy's).
        case webSocket(HTTPRequestHead)
        /// Another `:protocol` (501), or a malformed extended CONNECT (400): status and reason.
        case refused(status: Int, String)
    }

    /// Translates an extended CONNECT (`head.protocol` set, RFC 8441 §4) into the HTTP/1.1 opening handshake:
    /// `GET :path`, `Host` from `:authority`, the client's fields (its `Sec-WebSocket-Version`, `-Protocol`,
    /// `-Extensions`, its credential, which the rewrite step strips like any other), then `Upgrade`,
    /// `Connection` and `Sec-WebSocket-Key: key`. The version is 1.1 so that the one classifier
    /// (`classify`) and the one rewrite step treat it exactly as an HTTP/1.1 client's handshake.
    static func handshake(fromExtendedConnect head: HTTP2RequestHead, key: String) -> ExtendedConnect {
        guard let name = head.protocol else { return .refused(status: 400, "not an extended CONNECT") }
        guard name.lowercased() == "websocket" else {
            return .refused(
                status: 501,
                "extended CONNECT for :protocol \(name) is not supported; the proxy carries only websocket (RFC 8441)")
        }
        guard head.method == "CONNECT", let path = head.path, path.hasPrefix("/"), head.scheme != nil,
            let authority = head.authority, !authority.isEmpty
        else {
            return .refused(status: 400, "an extended CONNECT needs :scheme, :path and :authority (RFC 8441 §4)")
        }
        var http1 = head
        http1.method = "GET"
        http1.protocol = nil
        var request = http1.http1Head
        request.version = .http1_1
        // RFC 8441 §5: no key over HTTP/2; one the client sent anyway is not the handshake's.
        request.headers.remove(name: "Sec-WebSocket-Key")
        if !request.headers.contains("Sec-WebSocket-Version") {
            request.headers.add(name: "Sec-WebSocket-Version", value: "13")
        }
        addUpgradeFields(to: &request.headers)
        request.headers.add(name: "Sec-WebSocket-Key", value: key)
        return .webSocket(request)
    }

    /// The upstream's `101` (as `clientHead` made it for an HTTP/1.1 client) as the h2 client gets it: `200`
    /// with the negotiated `Sec-WebSocket-Protocol` and `-Extensions` and the other end-to-end fields, without
    /// `Sec-WebSocket-Accept` (RFC 8441 §5) and the connection-specific fields (RFC 9113 §8.2.2).
    static func http2ClientHead(_ switched: HTTPResponseHead) -> HTTPResponseHead {
        var head = switched
        head.status = 200
        head.reason = "OK"
        head.version = .http2
        head.headers.remove(name: "Sec-WebSocket-Accept")
        head.headers = head.http2Fields
        return head
    }

    // MARK: The handshake → an h2 upstream

    /// Whether a request head going upstream is a WebSocket handshake (`RequestRewrite` adds these fields
    /// only for a plan that `upgradesToWebSocket`).
    static func isHandshake(_ head: HTTPRequestHead) -> Bool {
        head.headers.hasListElement("websocket", in: .upgrade)
    }

    /// The handshake as an extended CONNECT to an h2 upstream (RFC 8441 §5): `:method CONNECT`,
    /// `:protocol websocket`, `:scheme`/`:authority` of the upstream, `:path` the target; `Upgrade`,
    /// `Connection` (connection-specific) and `Sec-WebSocket-Key` (not used over HTTP/2) go. Returns the key
    /// too: the `200` becomes a `101` carrying its accept (`switchedHead`).
    static func extendedConnect(_ head: HTTPRequestHead, scheme: String, authority: String)
        -> (head: HTTP2RequestHead, key: String)
    {
        let key = head.headers.first("Sec-WebSocket-Key") ?? makeKey()
        var h2 = HTTP2RequestHead(head, scheme: scheme, authority: authority)
        h2.method = "CONNECT"
        h2.protocol = "websocket"
        h2.headers.remove(name: "Sec-WebSocket-Key")
        return (h2, key)
    }

    /// An h2 upstream's `2xx` to the extended CONNECT (RFC 8441 §5: the stream is the WebSocket now) as the
    /// `101` an HTTP/1.1 server would have sent for `key`, so the exchange opens its tunnel the same way.
    static func switchedHead(_ response: HTTPResponseHead, key: String) -> HTTPResponseHead {
        var head = HTTPResponseHead(version: .http1_1, status: 101, reason: "Switching Protocols")
        head.headers = response.headers
        head.headers.remove(name: "Content-Length")
        addUpgradeFields(to: &head.headers)
        // The key is the proxy's; an Accept the server sent anyway (RFC 8441 §5 has none) would be a second one.
        head.headers.remove(name: "Sec-WebSocket-Accept")
        head.headers.add(name: "Sec-WebSocket-Accept", value: accept(for: key))
        return head
    }
}
