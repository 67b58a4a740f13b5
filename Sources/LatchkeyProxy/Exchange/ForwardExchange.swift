import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

/// The driver of one forwarded exchange: feeds what the client side, the upstream side, the credential
/// source and its one timer report into `ExchangeStateMachine`, and carries out the machine's actions. It decides
/// nothing itself: retries, replays, redirects, deadlines and back-pressure are the machine's.
///
/// Lives on the client connection's loop. The client side is an `ExchangeClient`, the upstream side an
/// `ExchangeUpstream` from an `ExchangeUpstreamSource` (today `UpstreamConnection`s from the loop's
/// `UpstreamPool`, whose events arrive through `UpstreamConnectionHandler`).
/// Its one timer is lent by the client side (`ExchangeTimer`): an HTTP/1.1 connection lends all its
/// exchanges the same one, left armed between them.
final class ForwardExchange: UpstreamConnectionHandler, @unchecked Sendable {  // confined to `loop`
    /// Above this many bytes waiting for a side, the other side stops being read (tunnels and the admin API
    /// use the same mark).
    static let highWaterMark = ExchangeStateMachine.highWaterMark

    /// Strong on purpose: the client may close while a response is mid-stream, and the exchange must still be
    /// able to call it safely (writes to a closed stream are dropped). The client breaks the cycle by
    /// dropping its exchange when it finishes or closes.
    let client: any ExchangeClient
    let upstreams: any ExchangeUpstreamSource
    let loop: EventLoop
    let log: AccessLog
    // Loop-confined and never mutated re-entrantly: exclusivity unchecked (see EventLoop).
    @exclusivity(unchecked) var machine: ExchangeStateMachine

    /// The current attempt's upstream connection.
    var upstream: (any ExchangeUpstream)?
    /// Whether the current response lets its connection carry another request.
    var upstreamReusable = true
    /// The wakeup the machine wants: `machine.wishes.wakeup` as last applied. The timer may be armed for
    /// an earlier instant (see `ExchangeTimer`), never for a later one.
    private var timerDeadline: ExchangeInstant?
    /// The timer the client side lent; this exchange's while `timer.owner` is this exchange.
    let timer: ExchangeTimer
    /// The pauses carried out so far (the machine's wishes are applied when they change).
    private var clientPaused = false
    private var upstreamPaused = false

    /// `timer`: lent by the client side (`ExchangeTimer`), free (no other exchange holds it).
    init(
        client: any ExchangeClient, plan: ForwardPlan, requestHead: HTTPRequestHead, framing: HTTPBodyFraming,
        upstreams: any ExchangeUpstreamSource, loop: EventLoop, log: AccessLog, runtime: ProxyRuntime,
        timer: ExchangeTimer
    ) {
        self.client = client
        self.upstreams = upstreams
        self.loop = loop
        self.log = log
        machine = ExchangeStateMachine(plan: plan, requestHead: requestHead, framing: framing, runtime: runtime)
        self.timer = timer
        timer.owner = self
    }

    deinit { returnTimer() }

    func start() { handle(.start) }

    // MARK: Events in

    /// Feeds `event`, carries out the action (which may produce the next event at once: a credential at hand,
    /// a pooled connection), then applies the machine's standing wishes. Events that follow from each other
    /// at once share one reading of the clock: `now`, or the loop's for the turn at hand.
    func handle(_ event: consuming ExchangeStateMachine.Event, now: ExchangeInstant? = nil) {
        let now = now ?? ExchangeInstant(of: loop)
        // A plain `Event` carried round the loop, not an `Event?` reassigned: replacing an optional of this
        // many-case enum went through Optional's generic value witness, about 150 instructions each time.
        var event = event
        while true {
            let action = machine.event(consume event, now: now)
            if let rejected = machine.takeRejectedCredential(), let route = machine.plan.route {
                // Before the next lookup, so that the replay cannot get the rejected token back.
                route.invalidate(rejected)
            }
            guard let following = perform(action) else { break }
            event = following
        }
        applyWishes(now: now)
    }

    func clientBody(_ chunk: [UInt8]) {
        handle(.requestBody(chunk, upstreamBacklog: upstream?.pendingRequestBytes ?? 0))
    }

    /// The request is complete; `trailers` are the client's trailer fields (empty: none), filtered by
    /// `RequestRewrite.upstreamTrailers` each time they are sent.
    func clientEnd(trailers: HTTPHeaders = HTTPHeaders()) { handle(.requestEnd(trailers: trailers)) }

    func clientDidDrainWrites() { handle(.clientDrained) }

    /// The client went away: drop everything, reuse nothing.
    func cancel() { handle(.clientClosed) }

    // MARK: Actions out

    private func perform(_ action: consuming ExchangeStateMachine.Action) -> ExchangeStateMachine.Event? {
        switch consume action {
        case .none:
            return nil
        case .lookUpCredential(let timeout):
            dropUpstream()
            return lookUpCredential(timeout: timeout)
        case .connect:
            dropUpstream()
            return connect()
        case .sendRequest(let body, let end, let trailers):
            sendRequest(body: body, end: end, trailers: trailers)
        case .sendBody(let chunk):
            upstream?.sendBody(chunk, framing: machine.requestFraming)
        case .sendEnd(let trailers):
            upstream?.sendEnd(framing: machine.requestFraming, trailers: upstreamTrailers(trailers))
        case .waitToRetry:
            dropUpstream()
        case .forwardInterim(let head):
            client.sendInterimResponse(head)
        case .startResponse(let head, let framing):
            // One reading of `upstream` for both calls: each reading of the stored property is a retain.
            let upstream = self.upstream
            upstreamReusable = upstream?.allowsReuse(after: head, framing: framing) ?? false
            let written = client.sendResponseHead(consume head, framing: framing, requestMethod: machine.plan.head.method)
            upstream?.recycleResponseHeaders(written)
        case .forwardBody(let chunk):
            client.sendResponseBody(chunk)
        case .finishResponse(let reuseUpstream, let closeClient, let trailers):
            client.sendResponseEnd(trailers: ResponseRewrite.clientTrailers(trailers))
            if let upstream {
                self.upstream = nil
                if reuseUpstream, upstreamReusable {
                    upstreams.release(upstream, tls: machine.plan.tls)
                } else {
                    upstream.abandon()
                }
            }
            log.record(exchange: self, status: machine.responseStatus, outcome: "ok")
            returnTimer()  // before the client starts its next exchange, which may take it
            client.exchangeDidFinish(self, closeConnection: closeClient)
        case .fail(let error, let requestComplete):
            dropUpstream()
            log.record(exchange: self, status: error.status, outcome: error.code.rawValue)
            returnTimer()
            client.exchangeDidFail(self, error: error, requestComplete: requestComplete)
        case .abortResponse:
            dropUpstream()
            log.record(exchange: self, status: machine.responseStatus, outcome: "upstream_aborted")
            returnTimer()
            client.exchangeDidAbort(self)
        case .cancelled:
            dropUpstream()
            let status = machine.responseStatus > 0 ? machine.responseStatus : 499
            log.record(exchange: self, status: status, outcome: "client_closed")
            returnTimer()
        case .switchProtocols(let head):
            return switchProtocols(head)
        case .finishTunnel(let reason):
            // One line per WebSocket, when it closes: status 101, the tunnel's bytes each way, and why it ended.
            log.record(exchange: self, status: machine.responseStatus, outcome: reason)
        }
        return nil
    }

    /// The upstream's connection leaves the exchange (never pooled) and joins the client's in a tunnel. An
    /// adapter pair that cannot carry one (no HTTP/1 connection to take over) cuts the client off instead.
    private func switchProtocols(_ head: HTTPResponseHead) -> ExchangeStateMachine.Event? {
        upstreamPaused = false
        clientPaused = false
        let taken = upstream?.takeOverForTunnel()
        upstream = nil
        guard let taken,
            client.beginTunnel(
                after: WebSocketHandshake.clientHead(head), upstream: taken.stream, early: taken.early, exchange: self)
        else {
            taken?.stream.close()
            client.exchangeDidAbort(self)
            return .tunnelClosed(bytesFromClient: 0, bytesToClient: 0, reason: "tunnel_unavailable")
        }
        return nil
    }

    /// The WebSocket tunnel this exchange opened has closed (called by the `Tunnel`, on the loop).
    func tunnelDidClose(bytesFromClient: Int, bytesToClient: Int, reason: Tunnel.CloseReason) {
        handle(.tunnelClosed(bytesFromClient: bytesFromClient, bytesToClient: bytesToClient, reason: reason.rawValue))
    }

    /// The credential at hand is used at once; otherwise the source is asked and answers on any queue.
    private func lookUpCredential(timeout: Duration) -> ExchangeStateMachine.Event? {
        guard let route = machine.plan.route, route.source != nil else { return .credentialReady(nil) }
        if let ready = route.currentCredential() { return .credentialReady(ready) }
        route.fetchCredential(timeout: timeout) { [self] result in
            loop.execute {
                switch result {
                case .success(let value): self.handle(.credentialReady(value))
                case .failure(let error): self.handle(.credentialFailed(error))
                }
            }
        }
        return nil
    }

    /// A pooled connection is ready at once; a new one reports through `UpstreamConnectionHandler`.
    private func connect() -> ExchangeStateMachine.Event? {
        let result = upstreams.upstream(
            endpoint: machine.plan.endpoint, tls: machine.plan.tls, http2: machine.plan.http2,
            connectTimeout: machine.plan.connectTimeout, handler: self)
        switch result {
        case .failure(let failure):
            return .upstreamFailed(failure, stale: false)
        case .success(let (upstream, ready)):
            // Held before it starts: a connection that fails at once must still be recognised as this one.
            self.upstream = upstream
            if ready { return .upstreamReady }
            upstream.start()
            return nil
        }
    }

    /// The client's trailers as this attempt may send them (see `RequestRewrite.upstreamTrailers`).
    private func upstreamTrailers(_ trailers: HTTPHeaders) -> HTTPHeaders {
        // Nearly every request has none: nothing to filter, and no credential header name to read.
        guard trailers.count > 0 else { return trailers }
        return RequestRewrite.upstreamTrailers(trailers, credentialHeader: machine.credential?.headerName)
    }

    private func sendRequest(body: [[UInt8]], end: Bool, trailers: HTTPHeaders) {
        guard let upstream else { return }
        var head = machine.upstreamHead(reusing: upstream.takeSpareRequestHeaders())
        if machine.plan.route?.settings.debug == true {
            let plan = machine.plan
            log.debugHead(
                route: plan.routeName ?? "-", attempt: machine.attemptNumber, direction: "request",
                startLine: "\(head.method) \(plan.endpoint.scheme)://\(plan.endpoint.authority)\(head.target)",
                headers: head.headers, credentialHeader: machine.credential?.headerName)
        }
        upstream.sendRequest(
            head, framing: machine.requestFraming, body: body, end: end, trailers: upstreamTrailers(trailers))
        upstream.keepSpareRequestHeaders(&head.headers)  // written: the connection's next request fills it
    }

    /// The current attempt's connection is not wanted any more.
    private func dropUpstream() {
        guard let upstream else { return }
        self.upstream = nil
        upstreamPaused = false
        upstream.abandon()
    }

    /// Pauses and the timer follow the machine's wishes; once it is finished, the client (which may already
    /// run its next exchange) is left alone.
    private func applyWishes(now: ExchangeInstant) {
        let wishes = machine.wishes
        // Once tunneling, both connections are the tunnel's to pause and resume.
        if !wishes.finished, machine.state != .tunneling {
            if wishes.clientReadingPaused != clientPaused {
                clientPaused = wishes.clientReadingPaused
                client.setReadingPaused(clientPaused)
            }
            if wishes.upstreamReadingPaused != upstreamPaused, let upstream {
                upstreamPaused = wishes.upstreamReadingPaused
                upstream.setResponseReadingPaused(upstreamPaused)
            }
        }
        guard wishes.wakeup != timerDeadline else { return }
        timerDeadline = wishes.wakeup
        // No wakeup wanted: the timer stays armed, and finds nothing to do if it fires (`ExchangeTimer`).
        guard let wakeup = wishes.wakeup, timer.owner === self else { return }
        if let armed = timer.armedFor, armed <= wakeup { return }  // it fires first; armed again then
        arm(timer, at: wakeup, now: now)
    }

    private func arm(_ timer: ExchangeTimer, at deadline: ExchangeInstant, now: ExchangeInstant) {
        loop.arm(timer, after: deadline - now)  // re-arms when armed already
        timer.armedFor = deadline
    }

    /// The lent timer fired: at the wakeup the machine wants, or before it (armed for an earlier one).
    func exchangeTimerFired() {
        guard let wanted = timerDeadline else { return }
        let now = ExchangeInstant(of: loop)
        guard wanted <= now else { return arm(timer, at: wanted, now: now) }
        timerDeadline = nil
        handle(.timer, now: now)
    }

    /// Gives the lent timer back: a reused one stays armed for the client's next exchange, any other leaves
    /// the loop's heap now. Once only; the exchange arms nothing after it.
    private func returnTimer() {
        guard timer.owner === self else { return }
        timer.owner = nil
        if !timer.keptArmed { timer.disarm(on: loop) }
    }

    // MARK: Access log facts

    // Read in place (`_read`): the access log takes a few fields, and a getter would copy the whole plan.
    var plan: ForwardPlan { _read { yield machine.plan } }
    var origin: RequestOrigin { machine.origin }
    var runtime: ProxyRuntime { machine.runtime }
    var method: String { machine.requestHead.method }
    var elapsed: Duration { machine.startedAt.map { ExchangeInstant(of: loop) - $0 } ?? .zero }
    var upstreamElapsed: Duration? { machine.upstreamDuration }
    var bytesFromClient: Int { machine.requestBytes }
    var bytesToClient: Int { machine.responseBytes }
    var attempts: Int { machine.attemptNumber }
}
