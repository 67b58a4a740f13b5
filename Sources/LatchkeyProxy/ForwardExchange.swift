import LatchkeyAuth
import LatchkeyHTTP
import LatchkeyNet

/// One request forwarded upstream and its response streamed back to the client.
///
/// Lives on the client connection's loop. Bodies stream in both directions: a side whose peer's write
/// buffer passes `highWaterMark` stops reading until that buffer drains (back-pressure).
final class ForwardExchange: UpstreamConnectionHandler, @unchecked Sendable {  // confined to `loop`
    static let highWaterMark = 256 * 1024

    /// Strong on purpose: the client may close while a response is mid-stream, and the exchange must still be
    /// able to call it safely (writes to a closed stream are dropped). The client breaks the cycle by
    /// dropping its exchange when it finishes or closes.
    private let client: ClientConnection
    let plan: ForwardPlan
    private let requestHead: HTTPRequestHead
    private let requestFraming: HTTPBodyFraming
    private let pool: UpstreamPool
    private let loop: EventLoop
    /// Whether the client asked to keep the connection (HTTP/1.1 without `Connection: close`).
    let clientWantsKeepAlive: Bool
    private let clientIsHTTP11: Bool
    private let log: AccessLog

    private var upstream: UpstreamConnection?
    private var credential: InjectedCredential?
    private var headTimer: LoopTimer?
    private var pendingBody: [[UInt8]] = []
    private var pendingBodyBytes = 0
    private var headSent = false
    private var requestComplete = false
    private var requestFullySent = false
    private var responseStarted = false
    private var responseStatus = 0
    private var responseChunked = false
    private var responseUntilClose = false
    private var upstreamReusable = true
    private var retriedStaleConnection = false
    private var finished = false
    private var pausedClientForUpload = false
    private var pausedUpstreamForDownload = false
    private let startedAt = ContinuousClock.now
    private var upstreamStartedAt: ContinuousClock.Instant?
    private var upstreamDuration: Duration?
    private var requestBytes = 0
    private var responseBytes = 0

    init(
        client: ClientConnection, plan: ForwardPlan, requestHead: HTTPRequestHead, framing: HTTPBodyFraming,
        pool: UpstreamPool, keepAlive: Bool, log: AccessLog
    ) {
        self.client = client
        self.plan = plan
        self.requestHead = requestHead
        self.requestFraming = framing
        self.pool = pool
        self.loop = pool.loop
        self.clientWantsKeepAlive = keepAlive
        self.clientIsHTTP11 = requestHead.version == .http1_1
        self.log = log
    }

    // MARK: Credential

    func start() {
        guard let route = plan.route, let source = route.source else {
            connect()
            return
        }
        if let ready = source.currentCredential(for: route.credentialKey) {
            credential = ready
            connect()
            return
        }
        source.fetchCredential(for: route.credentialKey, timeout: plan.timeout) { [self] result in
            loop.execute { self.credentialArrived(result) }
        }
    }

    private func credentialArrived(_ result: Result<InjectedCredential?, CredentialError>) {
        guard !finished else { return }
        switch result {
        case .success(let value):
            credential = value
            connect()
        case .failure(let error):
            let code: ProxyError.Code = error.code == .timeout ? .credentialTimeout : .credentialUnavailable
            fail(ProxyError(code, error.detail, route: plan.routeName, connection: plan.connectionName))
        }
    }

    // MARK: Upstream

    private func connect(forceNew: Bool = false) {
        headTimer?.cancel()
        headTimer = loop.schedule(after: plan.timeout) { [self] in headTimedOut() }
        upstreamStartedAt = .now
        if !forceNew, let pooled = pool.takeIdle(endpoint: plan.endpoint, tls: plan.tls) {
            upstream = pooled
            pooled.handler = self
            sendHead()
            return
        }
        let fresh: UpstreamConnection
        do {
            fresh = try UpstreamConnection(
                endpoint: plan.endpoint, tls: plan.tls, loop: loop, connectTimeout: plan.connectTimeout)
        } catch {
            fail(proxyError(for: .network(NetError(.tlsFailed, "\(error)"))))
            return
        }
        upstream = fresh
        fresh.handler = self
        fresh.start()
    }

    func upstreamDidBecomeReady(_ upstream: UpstreamConnection) {
        guard upstream === self.upstream, !headSent else { return }
        sendHead()
    }

    private func sendHead() {
        guard let upstream else { return }
        var head = plan.head
        RequestPlanner.inject(credential, into: &head)
        if requestFraming == .chunked { head.headers.add(name: "Transfer-Encoding", value: "chunked") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1024)
        HTTP1Serializer.appendRequestHead(head, to: &bytes)
        upstream.beginRequest(method: head.method)
        headSent = true
        for chunk in pendingBody { encodeBody(chunk, into: &bytes) }
        pendingBody.removeAll()
        pendingBodyBytes = 0
        if requestComplete {
            if requestFraming == .chunked { HTTP1Serializer.appendLastChunk(to: &bytes) }
            requestFullySent = true
        }
        upstream.write(bytes)
        if pausedClientForUpload, upstream.stream.pendingWriteBytes < Self.highWaterMark {
            pausedClientForUpload = false
            client.setReadingPaused(false)
        }
    }

    private func encodeBody(_ chunk: [UInt8], into bytes: inout [UInt8]) {
        if requestFraming == .chunked {
            HTTP1Serializer.appendChunk(chunk, to: &bytes)
        } else {
            bytes.append(contentsOf: chunk)
        }
    }

    // MARK: Request body from the client

    func clientBody(_ chunk: [UInt8]) {
        guard !finished else { return }
        requestBytes += chunk.count
        guard headSent, let upstream else {
            // Replaying is impossible once streamed; until the upstream is ready the chunks wait here.
            pendingBody.append(chunk)
            pendingBodyBytes += chunk.count
            if pendingBodyBytes > Self.highWaterMark, !pausedClientForUpload {
                pausedClientForUpload = true
                client.setReadingPaused(true)
            }
            return
        }
        var bytes: [UInt8] = []
        encodeBody(chunk, into: &bytes)
        upstream.write(bytes)
        if upstream.stream.pendingWriteBytes > Self.highWaterMark, !pausedClientForUpload {
            pausedClientForUpload = true
            client.setReadingPaused(true)
        }
    }

    func clientEnd() {
        guard !finished else { return }
        requestComplete = true
        guard headSent, let upstream else { return }
        if requestFraming == .chunked {
            var bytes: [UInt8] = []
            HTTP1Serializer.appendLastChunk(to: &bytes)
            upstream.write(bytes)
        }
        requestFullySent = true
    }

    func upstreamDidDrainWrites(_ upstream: UpstreamConnection) {
        if pausedClientForUpload {
            pausedClientForUpload = false
            client.setReadingPaused(false)
        }
    }

    // MARK: Response from the upstream

    func upstream(_ upstream: UpstreamConnection, didReceive events: [HTTP1ResponseEvent]) {
        guard upstream === self.upstream, !finished else { return }
        for event in events {
            switch event {
            case .informational(let head):
                // RFC 9110 §15.2: a proxy forwards 1xx responses, except to HTTP/1.0 clients.
                if clientIsHTTP11 {
                    var bytes: [UInt8] = []
                    var interim = head
                    interim.headers.removeHopByHop()
                    HTTP1Serializer.appendResponseHead(interim, to: &bytes)
                    client.write(bytes)
                }
            case .head(let head, let framing):
                startResponse(head, framing: framing)
            case .body(let chunk):
                responseBytes += chunk.count
                var bytes: [UInt8] = []
                if responseChunked {
                    HTTP1Serializer.appendChunk(chunk, to: &bytes)
                } else {
                    bytes = chunk
                }
                client.write(bytes)
                if client.pendingWriteBytes > Self.highWaterMark, !pausedUpstreamForDownload {
                    pausedUpstreamForDownload = true
                    upstream.stream.setReadingPaused(true)
                }
            case .end:
                if responseChunked {
                    var bytes: [UInt8] = []
                    HTTP1Serializer.appendLastChunk(to: &bytes)
                    client.write(bytes)
                }
                if requestComplete || requestFraming == .none {
                    complete()
                } else {
                    // The upstream answered before the whole request body arrived: neither connection can
                    // be reused, since the rest of the body is still on its way.
                    upstreamReusable = false
                    complete(forceClientClose: true)
                }
                return
            }
            if finished { return }
        }
    }

    private func startResponse(_ upstreamHead: HTTPResponseHead, framing: HTTPBodyFraming) {
        headTimer?.cancel()
        headTimer = nil
        upstreamDuration = upstreamStartedAt.map { ContinuousClock.now - $0 }
        responseStarted = true
        responseStatus = upstreamHead.status
        let connectionTokens = upstreamHead.headers.listElements(for: "Connection")
        if upstreamHead.version != .http1_1 || connectionTokens.contains(where: { $0.lowercased() == "close" }) {
            upstreamReusable = false
        }
        var head = upstreamHead
        head.version = .http1_1
        head.headers.removeHopByHop()
        switch framing {
        case .none, .contentLength:
            break
        case .chunked, .untilClose:
            if framing == .untilClose { upstreamReusable = false }
            if clientIsHTTP11 {
                responseChunked = true
                head.headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                responseUntilClose = true
            }
        }
        if !keepClientAlive { head.headers.add(name: "Connection", value: "close") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        HTTP1Serializer.appendResponseHead(head, to: &bytes)
        client.write(bytes)
    }

    private var keepClientAlive: Bool { clientWantsKeepAlive && !responseUntilClose }

    func clientDidDrainWrites() {
        if pausedUpstreamForDownload {
            pausedUpstreamForDownload = false
            upstream?.stream.setReadingPaused(false)
        }
    }

    // MARK: Failure and completion

    func upstream(_ upstream: UpstreamConnection, didFail failure: UpstreamFailure) {
        guard upstream === self.upstream, !finished else { return }
        self.upstream = nil
        if !responseStarted {
            // A pooled connection the server closed while idle fails before any response byte. The request
            // never reached the application, so a body-less request is safely sent again on a fresh one.
            if upstream.requestCount > 1, !upstream.receivedBytesForCurrentRequest, requestFraming == .none,
                !retriedStaleConnection
            {
                retriedStaleConnection = true
                headSent = false
                requestFullySent = false
                connect(forceNew: true)
                return
            }
            fail(proxyError(for: failure))
        } else {
            // Part of the response is already with the client: the only honest signal left is to cut it off.
            log.record(exchange: self, status: responseStatus, outcome: "upstream_aborted")
            finished = true
            headTimer?.cancel()
            client.exchangeDidFinish(self, keepAlive: false, abort: true)
        }
    }

    private func proxyError(for failure: UpstreamFailure) -> ProxyError {
        let target = "\(plan.endpoint.scheme)://\(plan.endpoint.authority)"
        let (code, detail): (ProxyError.Code, String)
        switch failure {
        case .network(let error):
            switch error.code {
            case .tlsFailed: (code, detail) = (.upstreamTLSFailed, "TLS with \(target) failed: \(error.detail)")
            case .connectTimeout: (code, detail) = (.upstreamConnectTimeout, error.detail)
            case .resolveFailed, .connectFailed: (code, detail) = (.upstreamConnectFailed, error.detail)
            case .reset, .ioFailed: (code, detail) = (.upstreamClosed, "\(target): \(error.detail)")
            }
        case .protocolError(let error):
            (code, detail) = (.upstreamProtocolError, "invalid response from \(target): \(error)")
        case .closed:
            (code, detail) = (.upstreamClosed, "\(target) closed the connection before a complete response")
        }
        return ProxyError(code, detail, route: plan.routeName, connection: plan.connectionName)
    }

    private func headTimedOut() {
        guard !finished, !responseStarted else { return }
        let upstream = self.upstream
        self.upstream = nil
        upstream?.handler = nil
        upstream?.close()
        let milliseconds = plan.timeout.components.seconds * 1000 + plan.timeout.components.attoseconds / 1_000_000_000_000_000
        fail(
            ProxyError(
                .upstreamTimeout,
                "no response from \(plan.endpoint.scheme)://\(plan.endpoint.authority) within \(milliseconds) ms",
                route: plan.routeName, connection: plan.connectionName))
    }

    /// Answers the client with `error` (before any response byte was sent).
    private func fail(_ error: ProxyError) {
        guard !finished else { return }
        finished = true
        headTimer?.cancel()
        upstream?.handler = nil
        upstream?.close()
        upstream = nil
        log.record(exchange: self, status: error.status, outcome: error.code.rawValue)
        client.exchangeDidFail(self, error: error, requestComplete: requestComplete || requestFraming == .none)
    }

    private func complete(forceClientClose: Bool = false) {
        guard !finished else { return }
        finished = true
        headTimer?.cancel()
        if let upstream {
            self.upstream = nil
            if upstreamReusable, requestFullySent, !upstream.isClosed {
                pool.release(upstream, tls: plan.tls)
            } else {
                upstream.handler = nil
                upstream.close()
            }
        }
        log.record(exchange: self, status: responseStatus, outcome: "ok")
        client.exchangeDidFinish(self, keepAlive: keepClientAlive && !forceClientClose, abort: false)
    }

    /// The client went away: drop everything, reuse nothing.
    func cancel() {
        guard !finished else { return }
        finished = true
        headTimer?.cancel()
        upstream?.handler = nil
        upstream?.close()
        upstream = nil
        log.record(exchange: self, status: responseStarted ? responseStatus : 499, outcome: "client_closed")
    }

    // MARK: Access log facts

    var method: String { requestHead.method }
    var elapsed: Duration { ContinuousClock.now - startedAt }
    var upstreamElapsed: Duration? { upstreamDuration }
    var bytesFromClient: Int { requestBytes }
    var bytesToClient: Int { responseBytes }
    var attempts: Int { retriedStaleConnection ? 2 : 1 }
}
