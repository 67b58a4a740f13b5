import LatchkeyHTTP
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyTLS

/// Receives what an upstream (an HTTP/1.1 connection or an HTTP/2 stream) produces while an exchange holds
/// it. Called on the loop.
protocol UpstreamConnectionHandler: AnyObject {
    /// TCP (and TLS) are up; the request may be written.
    func upstreamDidBecomeReady(_ upstream: any ExchangeUpstream)
    /// Response events (HTTP/2 responses are reported in the same shapes). `events` are the handler's to
    /// take apart (`HTTP1ResponseEvent.take()`); the caller empties the array afterwards and keeps it for the
    /// next read.
    func upstream(_ upstream: any ExchangeUpstream, didReceive events: inout [HTTP1ResponseEvent])
    /// Every request byte written so far was handed on (to the kernel; for HTTP/2, framed).
    func upstreamDidDrainWrites(_ upstream: any ExchangeUpstream)
    /// The connection (or stream) failed or closed before the response completed.
    func upstream(_ upstream: any ExchangeUpstream, didFail error: UpstreamFailure)
}

/// Why an upstream connection stopped.
enum UpstreamFailure: Error {
    case network(NetError)
    case protocolError(HTTP1ParseError)
    /// An HTTP/2 connection error, or the stream was reset (RST_STREAM) with this code.
    case http2(HTTP2Error)
    /// The peer closed before a complete response.
    case closed
}

/// One HTTP/1.1 connection to an upstream origin, over TCP or TLS, owned by one loop.
///
/// It serves one exchange at a time; between exchanges it rests in its loop's `UpstreamPool`.
final class UpstreamConnection: ByteStreamDelegate, @unchecked Sendable {  // confined to `loop`
    let endpoint: UpstreamEndpoint
    let stream: any ByteStream
    var loop: EventLoop { stream.loop }
    /// The exchange using this connection. Strong, not weak (a weak reference sends every retain and release
    /// of the exchange down the runtime's slow path): whoever lets go of the connection clears it — the pool
    /// on release, `abandon`/`close`, and a failure, which hands the handler its last event first.
    var handler: (any UpstreamConnectionHandler)?
    /// Set when the connection can carry another request after the current one.
    private(set) var isReady = false
    private(set) var isClosed = false
    /// How many requests this connection has started (>1 means it came from the pool).
    var requestCount = 0
    /// Whether any response byte arrived for the current request (a stale pooled connection fails before).
    private(set) var receivedBytesForCurrentRequest = false
    /// The buffer request heads are written into, kept between requests (`sendRequest`).
    @exclusivity(unchecked) var requestOutput: [UInt8] = []
    /// The events of a read, handed to the handler; emptied and kept for the next read.
    @exclusivity(unchecked) private var responseEvents: [HTTP1ResponseEvent] = []
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) private var parser: HTTP1ResponseParser = {
        var parser = HTTP1ResponseParser()
        parser.readsOnlyExpectedResponses = true
        return parser
    }()
    /// Bytes arrived after a complete response (or the connection switched protocols): what follows would be
    /// read as the next request's answer, so this connection is never reused.
    private(set) var hasLeftoverBytes = false
    /// Whether the connection may go back to the pool: open, and nothing but the last response was read.
    var isReusable: Bool { !isClosed && !hasLeftoverBytes && !parser.isTunneling }
    /// The last request head's header storage, once written: the next request on this connection is built
    /// into it (`takeSpareRequestHeaders`).
    var spareRequestHeaders = SpareHeaderStorage()
    /// A response head's header storage, once written to the client: the parser fills it with the next head.
    func recycleParsedHeaders(_ headers: inout HTTPHeaders) { parser.recycle(&headers) }
    /// While idle: the pool and list it sits in, so that EOF or data on an idle connection evicts it. A
    /// value, not a closure: every request's release set it, and a closure each was an allocation.
    var idleMembership: UpstreamPool.Membership?

    /// Throws when a TLS session cannot be set up for `endpoint` (e.g. an unusable server name).
    /// Counts this connection while it is open (metrics).
    private let openGauge: Gauge?

    init(
        endpoint: UpstreamEndpoint, tls: TLSClientContext?, loop: EventLoop, connectTimeout: Duration,
        openGauge: Gauge? = nil, ownListeners: OwnListeners? = nil
    ) throws(TLSError) {
        self.endpoint = endpoint
        self.openGauge = openGauge
        let tcp = TCPConnection(
            connectingTo: endpoint.host, port: endpoint.port, loop: loop, connectTimeout: connectTimeout,
            admission: ownListeners.map { endpoint.destination.admission(excluding: $0) })
        if endpoint.isTLS, let tls {
            stream = try TLSStream(underlying: tcp, context: tls, serverName: endpoint.serverName, peer: endpoint.authority)
        } else {
            stream = tcp
        }
        stream.delegate = self
    }

    func start() { stream.start() }

    /// Takes this idle connection out of its pool (it closed or misbehaved while idle).
    private func leavePool() {
        guard let membership = idleMembership else { return }
        idleMembership = nil
        membership.pool.remove(self, from: membership.list)
    }

    /// For a TLS connection whose handshake completed: the protocol the server chose by ALPN.
    var negotiatedProtocol: String? { (stream as? TLSStream)?.negotiatedProtocol }

    /// For a TLS connection whose handshake completed: whether it resumed an earlier session.
    var resumedTLSSession: Bool? {
        guard let tls = stream as? TLSStream, tls.engine.isHandshakeComplete else { return nil }
        return tls.engine.resumedSession
    }

    /// Prepares for the next response to a request with `method`.
    func beginRequest(method: String) {
        requestCount += 1
        receivedBytesForCurrentRequest = false
        parser.expectResponse(toMethod: method)
    }

    func write(_ bytes: [UInt8]) { stream.write(bytes) }

    func close() {
        guard !isClosed else { return }
        stream.close()
    }

    /// After a 101 the bytes are no longer HTTP: the stream leaves this object (it reads, reports and
    /// closes nothing from now on, and counts as closed so that no pool keeps it) with what followed the 101.
    /// Nil unless the response parser switched (`isTunneling`).
    func takeOverForTunnel() -> (stream: any ByteStream, early: [UInt8])? {
        guard !isClosed, parser.isTunneling else { return nil }
        handler = nil
        leavePool()
        isClosed = true
        // The gauge counts HTTP upstream connections; a tunnel's is no longer one.
        if isReady { openGauge?.decrement() }
        isReady = false
        stream.delegate = nil
        return (stream, parser.takeTunnelBytes())
    }

    // MARK: ByteStreamDelegate

    func streamDidBecomeReady(_ stream: any ByteStream) {
        isReady = true
        openGauge?.increment()
        handler?.upstreamDidBecomeReady(self)
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.stream(stream, didReadInPlace: $0) }
    }

    /// Parsed straight from the loop's read buffer: the events own copies of what they carry.
    func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer) {
        guard let handler else {
            // Bytes on an idle connection are a protocol violation: drop the connection.
            leavePool()
            close()
            return
        }
        receivedBytesForCurrentRequest = true
        // Taken out while the handler runs (a nested read would find none and make its own), then given back.
        var events: [HTTP1ResponseEvent] = []
        swap(&events, &responseEvents)
        defer {
            events.removeAllOneByOne()
            swap(&events, &responseEvents)
        }
        do {
            try parser.feed(bytes, into: &events)
            // Checked before the handler runs: the `.end` lets the exchange release this connection at once.
            // By case, not `contains(.end)`: equality would compare every event's head and body bytes.
            let ended = events.contains { if case .end = $0 { true } else { false } }
            if ended, !parser.hasNoBytesSinceLastResponse { hasLeftoverBytes = true }
            if !events.isEmpty { handler.upstream(self, didReceive: &events) }
        } catch {
            handler.upstream(self, didFail: .protocolError(error))
            close()
        }
    }

    func streamDidReachEOF(_ stream: any ByteStream) {
        guard let handler else {
            leavePool()
            close()
            return
        }
        do {
            var events = try parser.finishOnEOF()
            if !events.isEmpty { handler.upstream(self, didReceive: &events) }
        } catch {
            handler.upstream(self, didFail: .closed)
        }
        close()
    }

    func streamDidDrainWrites(_ stream: any ByteStream) {
        handler?.upstreamDidDrainWrites(self)
    }

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        if isReady { openGauge?.decrement() }
        isClosed = true
        isReady = false
        let handler = self.handler
        self.handler = nil
        if handler == nil { leavePool() }
        idleMembership = nil
        handler?.upstream(self, didFail: error.map { .network($0) } ?? .closed)
    }
}
