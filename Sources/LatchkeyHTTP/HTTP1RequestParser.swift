/// What `HTTP1RequestParser` reports, in wire order.
public enum HTTP1RequestEvent: Equatable, Sendable {
    /// A complete request head and how its body is framed (`.none`, `.contentLength` or `.chunked`).
    case head(HTTPRequestHead, HTTPBodyFraming)
    /// Body bytes as they arrived (chunked coding already removed). Never empty.
    case body([UInt8])
    /// The fields of a chunked body's trailer section (RFC 9112 §7.1.2), only when there are any; `.end`
    /// follows. Unfiltered: a proxy decides which may go on (`RequestRewrite`).
    case trailers(HTTPHeaders)
    /// The request is complete; the next bytes belong to the next request.
    case end
}

/// A strict, incremental HTTP/1.1 request decoder (RFC 9112). Pure value type: feed it bytes
/// from a connection, act on the events. It consumes every byte given, pipelined requests
/// included, and streams bodies without buffering them.
///
/// Strictness (RFC 9112, RFC 9110; leniency is where request smuggling lives): single spaces in
/// the request line; version exactly HTTP/1.1 or HTTP/1.0 (another HTTP/x.y gets 505); lines end
/// in CRLF only (bare LF and bare CR refused); NUL and controls refused; no obs-fold and no
/// whitespace before a colon; field values must be valid UTF-8 when not ASCII; at most one empty
/// line before a request line; exactly one valid Host on HTTP/1.1 (at most one on 1.0);
/// Content-Length is digits only and may appear once with one value (`5, 5` is refused too);
/// Transfer-Encoding must be exactly `chunked` (other codings 501), never beside
/// Content-Length, never on HTTP/1.0. The request-target is only checked for bytes (visible
/// ASCII); classify it with `RequestTarget.parse`.
///
/// After a CONNECT request ends, later bytes are not parsed: they are kept for the tunnel and
/// returned by `takeTunnelBytes()` (a proxy that refuses the CONNECT closes the connection).
/// After a request with an `Upgrade` field ends (RFC 9110 §7.8), later bytes are held unparsed
/// (`isAwaitingUpgradeDecision`) until the caller knows the answer: `takeTunnelBytes()` after a
/// `101 Switching Protocols`, `resumeAfterDeclinedUpgrade()` after any other response.
///
/// After an error the parser is failed for good: every later `feed` throws the same error.
/// Events decoded earlier in the failing call are dropped; the connection is answered with
/// `error.status` and closed.
public struct HTTP1RequestParser: Sendable {
    private var decoder: HTTP1Decoder

    /// Hands back the header storage of a request head this parser reported, once nothing needs it any more: the
    /// next head reuses it instead of allocating (`HTTP1Decoder.recycle`).
    public mutating func recycle(_ headers: inout HTTPHeaders) { decoder.recycle(&headers) }
    /// The decoder's events before they are mapped out, kept (empty) between calls so that a feed does not
    /// grow a new array from nothing every time; cleared after each mapping, so it holds no message.
    private var scratch: [HTTP1Decoder.Event] = []

    public init(limits: HTTP1Limits = .init()) {
        decoder = HTTP1Decoder(role: .request, limits: limits)
    }

    /// Decodes `bytes`, returning the events they complete.
    public mutating func feed(_ bytes: [UInt8]) throws(HTTP1ParseError) -> [HTTP1RequestEvent] {
        var events: [HTTP1RequestEvent] = []
        try feed(bytes, into: &events)
        return events
    }

    /// Decodes `bytes`, returning the events they complete. The buffer is not retained.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> [HTTP1RequestEvent] {
        var events: [HTTP1RequestEvent] = []
        try feed(bytes, into: &events)
        return events
    }

    /// Decodes `bytes`, appending the events they complete to `events` (a caller's kept array: no new one
    /// per read). On an error nothing is appended.
    public mutating func feed(_ bytes: [UInt8], into events: inout [HTTP1RequestEvent]) throws(HTTP1ParseError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(HTTP1ParseError) in try feed(raw, into: &events) }
        }
        try result.get()
    }

    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer, into events: inout [HTTP1RequestEvent]
    ) throws(HTTP1ParseError) {
        do {
            try decoder.process(bytes, into: &scratch)
        } catch {
            scratch.removeAll(keepingCapacity: true)
            throw error
        }
        HTTP1Decoder.Event.drain(&scratch, into: &events, Self.requestEvent)
    }

    private static func requestEvent(_ event: consuming HTTP1Decoder.Event) -> HTTP1RequestEvent {
        switch consume event {
        case .requestHead(let head, let framing): .head(head, framing)
        case .body(let bytes): .body(bytes)
        case .trailers(let fields): .trailers(fields)
        case .end: .end
        case .responseHead, .informational: preconditionFailure("response event from a request decoder")
        }
    }

    /// Whether the connection may close here without cutting a request short.
    public var isAtMessageBoundary: Bool { decoder.isAtMessageBoundary }

    /// Whether a CONNECT request has ended and the connection no longer carries HTTP.
    public var isTunneling: Bool {
        if case .passthrough = decoder.state { true } else { false }
    }

    /// Whether a request that asked to upgrade has ended and its answer is not known yet: the bytes that
    /// follow are held, not parsed. The caller reads no more until it knows (the held bytes are one read).
    public var isAwaitingUpgradeDecision: Bool {
        if case .upgradeHeld = decoder.state { true } else { false }
    }

    /// Bytes received after a CONNECT request, or after an upgrade request the upstream accepted with a 101,
    /// for the tunnel; clears them. From an upgrade decision it makes the switch final: later bytes are
    /// tunnel bytes too.
    public mutating func takeTunnelBytes() -> [UInt8] {
        if case .upgradeHeld = decoder.state { decoder.state = .passthrough }
        defer { decoder.passthroughBytes = [] }
        return decoder.passthroughBytes
    }

    /// The upgrade was declined (any answer but a 101): the held bytes are parsed as what follows the
    /// request, and parsing goes on as usual. Returns the events they complete; nothing outside a decision.
    public mutating func resumeAfterDeclinedUpgrade() throws(HTTP1ParseError) -> [HTTP1RequestEvent] {
        guard isAwaitingUpgradeDecision else { return [] }
        decoder.state = .startLine
        let held = decoder.passthroughBytes
        decoder.passthroughBytes = []
        return try feed(held)
    }
}
