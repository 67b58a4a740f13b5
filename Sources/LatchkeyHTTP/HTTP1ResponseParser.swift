/// What `HTTP1ResponseParser` reports, in wire order.
public enum HTTP1ResponseEvent: Equatable, Sendable {
    /// An interim 1xx response other than 101 (RFC 9110 §15.2); the final response follows.
    case informational(HTTPResponseHead)
    /// The final response head and its framing (RFC 9112 §6.3).
    case head(HTTPResponseHead, HTTPBodyFraming)
    /// Body bytes as they arrived (chunked coding removed). Never empty.
    case body([UInt8])
    /// The fields of a chunked body's trailer section (RFC 9112 §7.1.2), only when there are any; `.end`
    /// follows.
    case trailers(HTTPHeaders)
    /// The response is complete.
    case end

    /// Moves the event out, leaving `.end` in its place: its head or bytes are handed on without a second
    /// reference, so whoever receives them owns them alone and may change them in place.
    public mutating func take() -> HTTP1ResponseEvent {
        var taken = HTTP1ResponseEvent.end
        swap(&taken, &self)
        return taken
    }
}

/// A strict, incremental HTTP/1.1 response decoder (RFC 9112), as strict about field syntax as
/// the request parser: upstreams are not fully trusted.
///
/// Call `expectResponse(toMethod:)` once per request sent, in order; responses are matched to
/// methods first-in first-out (a response with none pending is read as an answer to GET).
/// Framing: 1xx, 204, 304 and answers to HEAD have no body; a 2xx to CONNECT and a 101 end the
/// HTTP exchange and later bytes are kept for the tunnel (`takeTunnelBytes()`); otherwise
/// chunked, Content-Length, or until close. Content-Length together with Transfer-Encoding,
/// and transfer codings other than a single `chunked`, are refused even though RFC 9112 lets a
/// client read them: the proxy drops Transfer-Encoding as hop-by-hop and cannot re-frame them.
///
/// After an error the parser is failed for good; every later call throws the same error.
public struct HTTP1ResponseParser: Sendable {
    private var decoder: HTTP1Decoder

    /// Hands back the header storage of a response head this parser reported, once nothing needs it any more: the
    /// next head reuses it instead of allocating (`HTTP1Decoder.recycle`).
    public mutating func recycle(_ headers: inout HTTPHeaders) { decoder.recycle(&headers) }
    /// The decoder's events before they are mapped out, kept (empty) between calls so that a feed does not
    /// grow a new array from nothing every time; cleared after each mapping, so it holds no message.
    private var scratch: [HTTP1Decoder.Event] = []

    public init(limits: HTTP1Limits = .init()) {
        decoder = HTTP1Decoder(role: .response, limits: limits)
    }

    /// Records that a request with `method` was sent, so its response is framed right.
    public mutating func expectResponse(toMethod method: String) {
        decoder.pendingMethods.append(method)
    }

    /// Decodes `bytes`, returning the events they complete.
    public mutating func feed(_ bytes: [UInt8]) throws(HTTP1ParseError) -> [HTTP1ResponseEvent] {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(HTTP1ParseError) in try feed(raw) }
        }
        return try result.get()
    }

    /// Decodes `bytes`, returning the events they complete. The buffer is not retained.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> [HTTP1ResponseEvent] {
        var events: [HTTP1ResponseEvent] = []
        try feed(bytes, into: &events)
        return events
    }

    /// Decodes `bytes` and appends the events they complete to `events` (a connection's array, reused read
    /// after read: a new one per read was an allocation per response). The buffer is not retained.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTP1ResponseEvent]) throws(HTTP1ParseError) {
        do {
            try decoder.process(bytes, into: &scratch)
        } catch {
            scratch.removeAll(keepingCapacity: true)
            throw error
        }
        HTTP1Decoder.Event.drain(&scratch, into: &events, Self.responseEvent)
    }

    /// The upstream closed the connection: ends a body delimited by close (`.end`), returns no
    /// events between messages, and throws `unexpectedEOF` inside any other message.
    /// Later `feed` calls throw `dataAfterEOF`.
    public mutating func finishOnEOF() throws(HTTP1ParseError) -> [HTTP1ResponseEvent] {
        var decoded: [HTTP1Decoder.Event] = []
        try decoder.finish(into: &decoded)
        var events: [HTTP1ResponseEvent] = []
        HTTP1Decoder.Event.drain(&decoded, into: &events, Self.responseEvent)
        return events
    }

    /// When true, bytes that arrive while no response is pending (every `expectResponse(toMethod:)` has
    /// had its answer) are counted instead of parsed, so they can never become the answer to a later
    /// request. A client that pools connections sets it and checks `hasNoBytesSinceLastResponse`.
    /// Default false: such bytes are read as an answer to GET.
    public var readsOnlyExpectedResponses: Bool {
        get { decoder.expectedResponsesOnly }
        set { decoder.expectedResponsesOnly = newValue }
    }

    /// Whether nothing at all has arrived since the last complete response: no partial line, not even
    /// an empty line, and no interim response waiting for its final one. A connection is only reusable
    /// from this state; bytes after a complete response would be read as the next request's answer.
    public var hasNoBytesSinceLastResponse: Bool { decoder.hasNoBytesSinceLastMessage }

    /// Whether a CONNECT 2xx or a 101 has ended the HTTP exchange.
    public var isTunneling: Bool {
        if case .passthrough = decoder.state { true } else { false }
    }

    /// Bytes received after the response that opened a tunnel; clears them.
    public mutating func takeTunnelBytes() -> [UInt8] {
        defer { decoder.passthroughBytes = [] }
        return decoder.passthroughBytes
    }

    private static func responseEvent(_ event: consuming HTTP1Decoder.Event) -> HTTP1ResponseEvent {
        switch consume event {
        case .responseHead(let head, let framing): .head(head, framing)
        case .informational(let head): .informational(head)
        case .body(let bytes): .body(bytes)
        case .trailers(let fields): .trailers(fields)
        case .end: .end
        case .requestHead: preconditionFailure("request event from a response decoder")
        }
    }
}
