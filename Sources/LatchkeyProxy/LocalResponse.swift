import LatchkeyHTTP

/// A successful answer the proxy gives itself instead of forwarding (RFC 9110 §7.6.2: a TRACE or
/// OPTIONS whose `Max-Forwards` is 0). Errors are `ProxyError`s; this is the non-error counterpart.
public struct LocalResponse: Sendable, Equatable {
    public var status: Int
    /// The `Content-Type` of `body`; nil for an empty body.
    public var contentType: String?
    public var body: [UInt8]

    public init(status: Int, contentType: String? = nil, body: [UInt8] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// The head, framed by `Content-Length` (for HTTP/1 `bytes` and for HTTP/2).
    public var head: HTTPResponseHead {
        var head = HTTPResponseHead(status: status, reason: HTTPReasonPhrase.phrase(for: status))
        if let contentType { head.headers.add(name: "Content-Type", value: contentType) }
        head.headers.add(name: "Content-Length", value: String(body.count))
        return head
    }

    /// The complete response, framed by `Content-Length`. `close` adds `Connection: close`.
    public func bytes(close: Bool) -> [UInt8] {
        var head = head
        if close { head.headers.add(name: "Connection", value: "close") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + body.count)
        HTTP1Serializer.appendResponseHead(head, to: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }
}
