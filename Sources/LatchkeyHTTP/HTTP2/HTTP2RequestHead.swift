extension HTTPVersion {
    /// HTTP/2, as the version of heads that came over (or go over) an HTTP/2 stream.
    public static let http2 = HTTPVersion(major: 2, minor: 0)
}

/// A request head as HTTP/2 carries it (RFC 9113 §8.3.1): the pseudo-header fields and the regular fields,
/// which hold no connection-specific field (§8.2.2) and no `Host` (it travels as `:authority`).
public struct HTTP2RequestHead: Sendable, Equatable {
    public var method: String
    /// Nil only for CONNECT (§8.5), unless extended CONNECT.
    public var scheme: String?
    public var authority: String?
    /// Nil only for CONNECT, unless extended CONNECT.
    public var path: String?
    /// Extended CONNECT's protocol (RFC 8441 §4), such as `websocket`.
    public var `protocol`: String?
    public var headers: HTTPHeaders

    public init(
        method: String, scheme: String?, authority: String?, path: String?, protocol: String? = nil,
        headers: HTTPHeaders = HTTPHeaders()
    ) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.protocol = `protocol`
        self.headers = headers
    }

    /// From an HTTP/1.1-shaped head with an origin-form target (a CONNECT's target is its authority):
    /// `Host` moves to `:authority` (`authority` wins: it is where the request goes), and the
    /// connection-specific fields go (§8.2.2: `Connection` and the fields it names, `Keep-Alive`,
    /// `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`, `Trailer`... and `TE` unless it is `trailers`).
    public init(_ head: HTTPRequestHead, scheme: String, authority: String) {
        var headers = head.headers.forwarded(
            dropping: Self.fieldsInPseudoHeaders, room: HTTPHeaders.Room(fields: 1, bytes: 10))
        if head.headers.wantsTrailers { headers.add(name: "te", value: "trailers") }
        let isConnect = head.method == "CONNECT"
        self.init(
            method: head.method, scheme: isConnect ? nil : scheme, authority: authority,
            path: isConnect ? nil : head.target, headers: headers)
    }

    /// What an HTTP/1.1-shaped head says in a field and HTTP/2 in a pseudo-header field: `Host`.
    static let fieldsInPseudoHeaders = KnownFieldNames(.host)

    /// As an HTTP/1.1-shaped head for planning and forwarding: version 2.0, the origin-form target `path`
    /// (a CONNECT's: its authority), `Host` set from `:authority` (§8.3.1: an intermediary making a Host uses
    /// `:authority`; a differing `Host` the client also sent is dropped, so one identity names the origin),
    /// and the cookie crumbs joined into one field with "; " (§8.2.3).
    public var http1Head: HTTPRequestHead { http1Head(reusing: HTTPHeaders()) }

    /// `http1Head`, its fields built in `storage` (empty: a connection's spare, `HTTP2Session.takeSpareHeaders`).
    public func http1Head(reusing storage: consuming HTTPHeaders) -> HTTPRequestHead {
        var fields = storage
        fields.reserveCapacity(fields: headers.count + 1, bytes: headers.bytes.count + 64)
        let hostValue = authority ?? headers.first(.host)
        if let hostValue { fields.add(name: "Host", value: hostValue) }
        var cookies: [String] = []
        for index in headers.indices {
            let known = headers.spans[index].known
            if known == .host { continue }
            if headers.nameMatches(index, "cookie") {
                cookies.append(headers.value(at: index))
                continue
            }
            fields.append(field: index, of: headers)
        }
        if !cookies.isEmpty { fields.add(name: "cookie", value: cookies.joined(separator: "; ")) }
        let target = method == "CONNECT" && `protocol` == nil ? (authority ?? "") : (path ?? "")
        return HTTPRequestHead(method: method, target: target, version: .http2, headers: fields)
    }
}

extension HTTPResponseHead {
    /// The fields to send over HTTP/2: the connection-specific ones removed (RFC 9113 §8.2.2).
    public var http2Fields: HTTPHeaders {
        var fields = headers
        fields.removeHopByHop()
        return fields
    }
}

extension HTTPHeaders {
    /// Whether `TE` lists `trailers`: the one TE an HTTP/2 request may carry (RFC 9113 §8.2.2), and the one a
    /// proxy forwards to an HTTP/1.1 upstream (as its own hop's); gRPC sends it.
    public var wantsTrailers: Bool {
        var wants = false
        forEachListElement(in: .te) { element in
            if Self.equalsIgnoringCase(element, "trailers") { wants = true }
            return !wants
        }
        return wants
    }
}

extension HTTPHeaders {
    /// The `Content-Length` an HTTP/2 message declares: digits only (RFC 9110 §8.6; no sign, no list), at most
    /// 18 of them; nil when absent or not such a number. nghttp2 has checked it against the DATA received.
    /// Read from the value's bytes: through a String it cost an HTTP/2 response 250 instructions.
    public var declaredContentLength: Int? {
        guard let index = firstIndex(of: .contentLength) else { return nil }
        return withValueBytes(at: index) { bytes -> Int? in
            guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
            var value = 0
            for byte in bytes {
                let digit = byte &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value &* 10 &+ Int(digit)
            }
            return value
        }
    }
}
