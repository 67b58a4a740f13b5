import LatchkeyHTTP
import LatchkeyNet

/// The client side of one exchange, as the driver (`ForwardExchange`) sees it: the request came from it
/// (the adapter feeds `clientBody`/`clientEnd`), the response goes to it. `ClientConnection` (HTTP/1.1 over
/// any `ByteStream`: TCP, or TLS for interception) is one adapter, `HTTP2StreamClient` (one HTTP/2 stream)
/// the other.
///
/// Response bytes may be held by the adapter until `flushResponse`, so that everything one upstream read
/// produced leaves in one write. Every method is called on the adapter's loop.
protocol ExchangeClient: AnyObject {
    /// Response bytes not yet handed to the kernel, including those held until `flushResponse`.
    var pendingWriteBytes: Int { get }
    /// Stops (true) or resumes (false) reading the request: the upstream cannot take more yet.
    func setReadingPaused(_ paused: Bool)
    /// An interim (1xx) response (RFC 9110 §15.2); the adapter drops it where its protocol cannot carry it.
    func sendInterimResponse(_ head: HTTPResponseHead)
    /// The final response head; `framing` is how the upstream delimited the body, `requestMethod` what it
    /// answered (HEAD and 304 keep `Content-Length`). Returns the head's header storage once the adapter is
    /// done with it (written out or copied), for the upstream's parser to reuse (`recycleResponseHeaders`).
    func sendResponseHead(_ head: consuming HTTPResponseHead, framing: HTTPBodyFraming, requestMethod: String) -> HTTPHeaders
    func sendResponseBody(_ chunk: [UInt8])
    /// The end of the response, with its trailer fields (empty: none; already filtered by `ResponseRewrite`).
    /// An adapter whose framing cannot carry them drops them (RFC 9110 §6.5.1 allows discarding).
    func sendResponseEnd(trailers: HTTPHeaders)
    /// Writes what the adapter holds.
    func flushResponse()
    /// The response is complete. `closeConnection`: the request body was not read to its end, so nothing
    /// more on this connection can be understood.
    func exchangeDidFinish(_ exchange: ForwardExchange, closeConnection: Bool)
    /// The response was cut off after part of it was sent: the only honest signal left is to close.
    func exchangeDidAbort(_ exchange: ForwardExchange)
    /// No response byte was sent: the adapter answers with `error`. `requestComplete`: the whole request was
    /// read (otherwise its rest would be taken for the next request).
    func exchangeDidFail(_ exchange: ForwardExchange, error: ProxyError, requestComplete: Bool)
    /// The upstream accepted a WebSocket handshake: write `head` (the 101 for the client), then carry bytes
    /// between this connection and `upstream` (`early` first to the client) in a `Tunnel` until both end; the
    /// exchange is done with the client, except for the tunnel's close report. False when the adapter cannot
    /// (the driver then closes `upstream` and cuts the client off).
    func beginTunnel(
        after head: HTTPResponseHead, upstream: any ByteStream, early: [UInt8], exchange: ForwardExchange) -> Bool
}

extension ExchangeClient {
    /// Adapters without a connection of their own to tunnel (see `beginTunnel`).
    func beginTunnel(
        after head: HTTPResponseHead, upstream: any ByteStream, early: [UInt8], exchange: ForwardExchange
    ) -> Bool { false }
}
