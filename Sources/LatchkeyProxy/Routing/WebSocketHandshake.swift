import LatchkeyHTTP

/// The one place that decides whether a request is a WebSocket opening handshake the proxy carries through
/// (RFC 6455 §4.1, over the HTTP/1.1 upgrade mechanism of RFC 9110 §7.8), and what its `101` must say.
/// Pure: no I/O.
///
/// Only `websocket` is upgraded. A request asking for any other protocol (`h2c`, `TLS/1.0`...) is forwarded
/// as before: `Upgrade` and `Connection` are hop-by-hop and removed, so the upstream never switches.
enum WebSocketHandshake {
    /// What a request head asks for.
    enum Request: Equatable {
        /// No WebSocket upgrade: forwarded as any request (an `Upgrade` for another protocol is stripped).
        case plain
        /// A WebSocket handshake to carry through: `Upgrade: websocket` and `Connection: Upgrade` go upstream.
        case webSocket
        /// A WebSocket handshake this proxy will not carry (400): the reason, for the error detail.
        case refused(String)
    }

    /// Classifies `head`, whose body is framed as `framing`. A WebSocket upgrade is an `Upgrade` list with
    /// the `websocket` token and a `Connection` list with `upgrade` (RFC 9110 §7.8: without the `Connection`
    /// option the `Upgrade` field is not meant for the next hop). It must be an HTTP/1.1 GET without content
    /// (RFC 6455 §4.1; RFC 9110 §7.8: HTTP/1.0 cannot upgrade, and a body would be sent before the switch).
    static func classify(_ head: HTTPRequestHead, framing: HTTPBodyFraming) -> Request {
        guard head.headers.hasListElement("websocket", in: .upgrade),
            head.headers.hasListElement("upgrade", in: .connection)
        else { return .plain }
        if head.version != .http1_1 {
            return .refused("a WebSocket handshake needs HTTP/1.1 (RFC 6455 §4.1); this request is HTTP/1.0")
        }
        if head.method != "GET" {
            return .refused("a WebSocket handshake must be a GET (RFC 6455 §4.1), not \(head.method)")
        }
        switch framing {
        case .none, .contentLength(0): return .webSocket
        case .contentLength, .chunked, .untilClose:
            return .refused("a WebSocket handshake must not carry a body (RFC 6455 §4.1)")
        }
    }

    /// The fields that ask the upstream to switch: set on the rewritten head after hop-by-hop removal, in
    /// this one spelling whatever the client wrote (other protocols it listed are not offered upstream).
    static func addUpgradeFields(to headers: inout HTTPHeaders) {
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
    }

    /// Whether a `101` answers the WebSocket handshake: HTTP/1.1 with `Upgrade: websocket` (RFC 6455 §4.1
    /// step 2; an HTTP/1.1 client checks `Sec-WebSocket-Accept` itself). Anything else switched to a protocol
    /// the proxy did not ask for. `expectedAccept`: the accept for a key the proxy made (RFC 8441 client),
    /// which the proxy checks in the client's place (step 4).
    static func acceptsSwitch(_ head: HTTPResponseHead, expectedAccept: String? = nil) -> Bool {
        guard head.status == 101, head.version == .http1_1, head.headers.hasListElement("websocket", in: .upgrade)
        else { return false }
        guard let expectedAccept else { return true }
        return head.headers.first("Sec-WebSocket-Accept") == expectedAccept
    }

    /// The `101` as the client gets it: sanitised like any response (hop-by-hop fields go, `Via` added), then
    /// `Upgrade: websocket` and `Connection: Upgrade` again, which the client needs to see (RFC 6455 §4.1).
    /// `Sec-WebSocket-Accept`, `-Protocol` and `-Extensions` pass unchanged.
    static func clientHead(_ upstream: HTTPResponseHead) -> HTTPResponseHead {
        var head = upstream
        head.version = .http1_1
        ResponseRewrite.sanitize(&head.headers, receivedVersion: upstream.version)
        head.headers.setFraming(.none)
        addUpgradeFields(to: &head.headers)
        return head
    }
}
