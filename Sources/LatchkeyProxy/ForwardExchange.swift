import LatchkeyAuth
import LatchkeyHTTP
import LatchkeyNet

/// One client request carried upstream in one or more attempts, and the response streamed back.
///
/// Lives on the client connection's loop. An attempt looks the credential up afresh, takes a pooled or new
/// upstream connection and sends the head plus the body bytes it has. Request bodies stream; up to the
/// route's `body_buffer_bytes` they are also kept for replay (a 401 with a renewable credential, a retry,
/// a followed redirect). Once a response head is passed to the client there is no going back.
/// Back-pressure: a side whose peer's write buffer passes `highWaterMark` stops reading until it drains.
final class ForwardExchange: UpstreamConnectionHandler, @unchecked Sendable {  // confined to `loop`
    static let highWaterMark = 256 * 1024

    /// Strong on purpose: the client may close while a response is mid-stream, and the exchange must still be
    /// able to call it safely (writes to a closed stream are dropped). The client breaks the cycle by
    /// dropping its exchange when it finishes or closes.
    let client: ClientConnection
    /// The plan of the current attempt (a followed redirect replaces it).
    var plan: ForwardPlan
    let originalPlan: ForwardPlan
    let requestHead: HTTPRequestHead
    /// Framing of the body as sent upstream (a redirect to GET drops the body).
    var requestFraming: HTTPBodyFraming
    let pool: UpstreamPool
    let loop: EventLoop
    /// Whether the client asked to keep the connection (HTTP/1.1 without `Connection: close`).
    let clientWantsKeepAlive: Bool
    let clientIsHTTP11: Bool
    let log: AccessLog
    let policy: ExchangePolicy
    /// The runtime the request started with: a followed redirect is planned against it.
    let runtime: ProxyRuntime

    var upstream: UpstreamConnection?
    var credential: InjectedCredential?
    /// Whether the current plan carries the route's credential (false after a redirect to another origin).
    var injectsCredential = true
    var headTimer: LoopTimer?
    var deadlineTimer: LoopTimer?
    var retryTimer: LoopTimer?

    // Request body: `unsent` is what the current attempt has not written yet; `replay` everything received,
    // while it fits the buffer.
    var unsent: [[UInt8]] = []
    var unsentBytes = 0
    var replay: [[UInt8]] = []
    var replayBytes = 0
    var replayable = true
    var headSent = false
    var requestComplete = false
    var requestFullySent = false

    // Response.
    var responseStarted = false
    var responseStatus = 0
    var responseChunked = false
    var responseUntilClose = false
    var upstreamReusable = true

    // Attempts.
    var attemptNumber = 0
    var retriesUsed = 0
    var redirectsFollowed = 0
    var replayedAfterRejection = false
    var staleConnectionRetried = false
    var attemptHistory: [String] = []
    var finished = false
    var pausedClientForUpload = false
    var pausedUpstreamForDownload = false
    let startedAt = ContinuousClock.now
    var upstreamStartedAt: ContinuousClock.Instant?
    var upstreamDuration: Duration?
    var requestBytes = 0
    var responseBytes = 0

    init(
        client: ClientConnection, plan: ForwardPlan, requestHead: HTTPRequestHead, framing: HTTPBodyFraming,
        pool: UpstreamPool, keepAlive: Bool, log: AccessLog, runtime: ProxyRuntime
    ) {
        self.runtime = runtime
        self.client = client
        self.plan = plan
        self.originalPlan = plan
        self.requestHead = requestHead
        self.requestFraming = framing
        self.pool = pool
        self.loop = pool.loop
        self.clientWantsKeepAlive = keepAlive
        self.clientIsHTTP11 = requestHead.version == .http1_1
        self.log = log
        self.policy = plan.route?.policy ?? ExchangePolicy.passthrough
        if framing == .none { requestComplete = true }
    }

    func start() {
        deadlineTimer = loop.schedule(after: policy.deadline) { [self] in deadlineExpired() }
        beginAttempt()
    }

    // MARK: Attempts

    /// Starts an attempt: a fresh credential lookup (a token renewed meanwhile is used), then the upstream.
    func beginAttempt() {
        guard !finished else { return }
        attemptNumber += 1
        headSent = false
        requestFullySent = false
        credential = nil
        guard injectsCredential, let route = plan.route, let source = route.source else {
            connect()
            return
        }
        if let ready = source.currentCredential(for: route.credentialKey) {
            credential = ready
            connect()
            return
        }
        // The source waits at most its token_wait_ms, and never past this attempt's timeout or the
        // exchange's deadline (issue 10 §2). Only on a cold cache, so the clock read is off the hot path.
        let wait = min(plan.timeout, max(policy.deadline - elapsed, .milliseconds(1)))
        source.fetchCredential(for: route.credentialKey, timeout: wait) { [self] result in
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
            let code: ProxyError.Code
            switch error.code {
            case .timeout: code = .credentialTimeout
            case .needsConsent: code = .needsConsent
            default: code = .credentialUnavailable
            }
            fail(ProxyError(code, error.detail, route: plan.routeName, connection: plan.connectionName))
        }
    }

    func connect(forceNew: Bool = false) {
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
                endpoint: plan.endpoint, tls: plan.tls, loop: loop, connectTimeout: plan.connectTimeout,
                openGauge: pool.openConnections, ownListeners: pool.ownListeners)
        } catch {
            attemptFailed(.network(NetError(.tlsFailed, "\(error)")), connection: nil)
            return
        }
        upstream = fresh
        fresh.handler = self
        fresh.start()
    }

    func upstreamDidBecomeReady(_ upstream: UpstreamConnection) {
        if let resumed = upstream.resumedTLSSession {
            (plan.route?.metrics ?? runtime.unmatchedMetrics).recordTLSHandshake(resumed: resumed)
        }
        guard upstream === self.upstream, !headSent else { return }
        sendHead()
    }

    private func sendHead() {
        guard let upstream else { return }
        let head = RequestRewrite.upstreamHead(
            base: plan.head, plan: plan, credential: injectsCredential ? credential : nil, framing: requestFraming,
            receivedVersion: requestHead.version)
        if let route = plan.route, route.settings.debug {
            log.debugHead(
                route: route.settings.name, attempt: attemptNumber, direction: "request",
                startLine: "\(head.method) \(plan.endpoint.scheme)://\(plan.endpoint.authority)\(head.target)",
                headers: head.headers, credentialHeader: credential?.headerName)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1024 + unsentBytes)
        HTTP1Serializer.appendRequestHead(head, to: &bytes)
        upstream.beginRequest(method: head.method)
        headSent = true
        for chunk in unsent { encodeBody(chunk, into: &bytes) }
        unsent.removeAll()
        unsentBytes = 0
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
        switch requestFraming {
        case .chunked: HTTP1Serializer.appendChunk(chunk, to: &bytes)
        case .contentLength: bytes.append(contentsOf: chunk)
        case .none, .untilClose: break  // a body dropped by a redirect to GET
        }
    }

    /// Drops the current attempt's upstream connection (its response, if any, is not wanted).
    func abandonAttempt() {
        headTimer?.cancel()
        headTimer = nil
        if let upstream {
            self.upstream = nil
            upstream.handler = nil
            upstream.close()
        }
    }

    /// Prepares the body for another attempt: everything received so far goes again.
    func rewindBody() {
        unsent = replay
        unsentBytes = replayBytes
    }

    // MARK: Request body from the client

    func clientBody(_ chunk: [UInt8]) {
        guard !finished else { return }
        requestBytes += chunk.count
        if replayable {
            if replayBytes + chunk.count <= policy.bodyBufferBytes {
                replay.append(chunk)
                replayBytes += chunk.count
            } else {
                replayable = false
                replay.removeAll()
                replayBytes = 0
            }
        }
        guard headSent, let upstream else {
            // Until the upstream is ready the chunks wait here (bounded by pausing the client).
            unsent.append(chunk)
            unsentBytes += chunk.count
            if unsentBytes > Self.highWaterMark, !pausedClientForUpload {
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

    func clientDidDrainWrites() {
        if pausedUpstreamForDownload {
            pausedUpstreamForDownload = false
            upstream?.stream.setReadingPaused(false)
        }
    }

    // MARK: Access log facts

    var method: String { requestHead.method }
    var elapsed: Duration { ContinuousClock.now - startedAt }
    var upstreamElapsed: Duration? { upstreamDuration }
    var bytesFromClient: Int { requestBytes }
    var bytesToClient: Int { responseBytes }
    var attempts: Int { attemptNumber }
}
