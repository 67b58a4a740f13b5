import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyTLS

/// The upstream side of one exchange, as the driver (`ForwardExchange`) sees it: one request out, one
/// response in. `UpstreamConnection` (HTTP/1.1 over TCP or TLS) is the adapter today; an HTTP/2 stream can
/// be another. Framing on the wire is the adapter's business: `framing` says how the body is delimited as
/// planned (`RequestRewrite` wrote the matching fields), an HTTP/2 stream would ignore it.
///
/// Every method is called on the adapter's loop. Writes after `close` are dropped.
protocol ExchangeUpstream: AnyObject {
    /// Begins connecting (a new upstream from `ExchangeUpstreamSource`); reports through its handler.
    func start()
    /// Sends the request head, then `body`, then the end of the request when `end` (with `trailers`, already
    /// filtered by `RequestRewrite`; empty: none), in one write.
    func sendRequest(
        _ head: HTTPRequestHead, framing: HTTPBodyFraming, body: [[UInt8]], end: Bool, trailers: HTTPHeaders)
    /// Sends one more body chunk of the request under way.
    func sendBody(_ chunk: [UInt8], framing: HTTPBodyFraming)
    /// Ends the request under way (an HTTP/1 chunked body gets its last chunk and the trailers; a body framed by
    /// `Content-Length` cannot carry trailers, which are dropped).
    func sendEnd(framing: HTTPBodyFraming, trailers: HTTPHeaders)
    /// Request bytes accepted but not yet handed to the kernel (back-pressure for the client side).
    var pendingRequestBytes: Int { get }
    /// Stops (true) or resumes (false) reading the response: the client cannot take more yet.
    func setResponseReadingPaused(_ paused: Bool)
    /// Whether the connection could carry another request once this response (`head`, `framing`) is complete.
    func allowsReuse(after head: HTTPResponseHead, framing: HTTPBodyFraming) -> Bool
    /// Whether it came from the pool and failed before one byte of the current response arrived (the server
    /// had closed it while idle: the request never reached the application).
    var failedBeforeAnyResponseByte: Bool { get }
    /// After a `101` to a WebSocket handshake: hands over the connection itself, with the bytes that came
    /// right behind the 101, for a byte tunnel; the adapter lets go of it for good (no report, no pooling,
    /// no close). Nil when the adapter cannot (a multiplexed stream is not a connection of its own).
    func takeOverForTunnel() -> (stream: any ByteStream, early: [UInt8])?
    /// Drops the connection (its response, if any, is not wanted).
    func abandon()
    /// The header storage of the response head this adapter reported, once the client side has written it:
    /// the next response head on the connection fills it instead of allocating.
    func recycleResponseHeaders(_ headers: consuming HTTPHeaders)
    /// Storage for the next request head sent on this connection (`RequestRewrite.upstreamHead` builds into
    /// it), and the storage of one it has written, to keep for the next (`keepSpareRequestHeaders`).
    func takeSpareRequestHeaders() -> HTTPHeaders
    func keepSpareRequestHeaders(_ headers: inout HTTPHeaders)
    /// When its readiness came from a TLS handshake made for this exchange: whether the handshake resumed an
    /// earlier session (metrics); nil otherwise.
    var resumedTLSSession: Bool? { get }
}

/// Where the driver gets its upstream side from and gives it back: the loop's `UpstreamPool` (HTTP/1.1
/// connections and HTTP/2 streams).
protocol ExchangeUpstreamSource: AnyObject {
    /// An upstream for `endpoint` (with `tls` for https; `http2` the route's choice) reporting to `handler`:
    /// a pooled one that can take the request at once (`ready`), or a new one the driver must `start` (it
    /// reports ready or failed later, within `connectTimeout`). A failure to even set one up (an unusable TLS
    /// server name) is `.failure`.
    func upstream(
        endpoint: UpstreamEndpoint, tls: TLSClientContext?, http2: HTTP2Mode, connectTimeout: Duration,
        handler: any UpstreamConnectionHandler
    ) -> Result<(upstream: any ExchangeUpstream, ready: Bool), UpstreamFailure>
    /// A new upstream reported ready: the source may learn from its handshake (the protocol chosen by ALPN)
    /// and return the upstream that serves the exchange from now on (`upstream` itself, or a stream of the
    /// HTTP/2 connection that took it over).
    func upstreamDidConnect(
        _ upstream: any ExchangeUpstream, tls: TLSClientContext?, handler: any UpstreamConnectionHandler
    ) -> any ExchangeUpstream
    /// The exchange is done with `upstream` and its response allowed reuse: keep it for the next request to
    /// the same endpoint (and `tls`), or close it.
    func release(_ upstream: any ExchangeUpstream, tls: TLSClientContext?)
}

extension ExchangeUpstream {
    /// Adapters that cannot be taken over (see `takeOverForTunnel`).
    func takeOverForTunnel() -> (stream: any ByteStream, early: [UInt8])? { nil }
    /// Adapters whose heads do not come from a parser of their own drop the storage.
    func recycleResponseHeaders(_ headers: consuming HTTPHeaders) {}
    /// Adapters that keep no request head storage between requests.
    func takeSpareRequestHeaders() -> HTTPHeaders { HTTPHeaders() }
    func keepSpareRequestHeaders(_ headers: inout HTTPHeaders) {}
}
