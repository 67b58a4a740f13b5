/// What an `HTTP2Session` learned from the bytes it received (or from sending): one stream's head, body,
/// end or closing, or news about the connection. A stream's events come in order and end with
/// `.streamClosed`.
public enum HTTP2Event: Sendable, Equatable {
    /// Server role: a request head. `endStream`: it has no body.
    case request(stream: Int32, HTTP2RequestHead, endStream: Bool)
    /// Client role: an interim (1xx) response (version 2.0).
    case interimResponse(stream: Int32, HTTPResponseHead)
    /// Client role: the final response head (version 2.0). `endStream`: it has no body.
    case response(stream: Int32, HTTPResponseHead, endStream: Bool)
    /// Body bytes. The receiver calls `HTTP2Session.consume(stream:count:)` once they are handed on: flow
    /// control is manual, so this is how the peer learns it may send more.
    case data(stream: Int32, [UInt8])
    /// The peer ended the stream without trailers.
    case end(stream: Int32)
    /// The peer ended the stream with trailers.
    case trailers(stream: Int32, HTTPHeaders)
    /// The stream's header section exceeded `HTTP2Settings.maxHeaderListSize`; the stream was reset.
    case headersTooLarge(stream: Int32)
    /// Every byte queued with `sendData` for the stream has been framed (back-pressure may lift).
    case dataDrained(stream: Int32)
    /// The stream is gone; its last event. `.noError` after a normal end; otherwise how it was reset.
    case streamClosed(stream: Int32, HTTP2ErrorCode)
    /// The peer will accept no stream above `lastStreamID`.
    case goAway(lastStreamID: Int32, HTTP2ErrorCode, debug: String)
    /// The peer's SETTINGS arrived (or changed).
    case remoteSettings(maxConcurrentStreams: UInt32, enableConnectProtocol: Bool)
}

extension HTTP2Event {
    /// Moves the event out of `slot`, leaving a payload-free one behind: a connection hands each event of a
    /// batch on without copying it (a copy retains a head's or a DATA chunk's buffers, only for the batch
    /// to release them a moment later).
    public static func take(from slot: inout HTTP2Event) -> HTTP2Event {
        var event = HTTP2Event.end(stream: 0)
        swap(&event, &slot)
        return event
    }
}
