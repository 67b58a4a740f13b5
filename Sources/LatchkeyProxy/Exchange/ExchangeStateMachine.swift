import Foundation
import LatchkeyAuth
import LatchkeyHTTP

/// The decisions of one forwarded exchange, as a value type: which attempt runs, when it gives up, whether it
/// goes again (retry, stale pooled connection, 401 replay, redirect), what of the request body is kept for
/// that, and when either side must stop reading (back-pressure).
///
/// It knows requests and responses as heads, body chunks and ends; it knows nothing of HTTP/1 framing,
/// parsers, sockets, timers or queues. The driver (`ForwardExchange`) feeds it one `Event` at a time with
/// the current instant and carries out the returned `Action`; besides the action it reads the standing
/// `wishes` after every event: `wakeup` (when to deliver `.timer`), `clientReadingPaused`,
/// `upstreamReadingPaused` and `finished`; and before carrying out the action, `takeRejectedCredential()` (a token the
/// upstream answered 401 to, which the source must forget before the replay looks one up). Time is only the
/// instant each event comes with; randomness (backoff jitter) and the wall clock (an HTTP-date `Retry-After`)
/// are injected: tests step it on a manual clock.
///
/// Contract for the driver: every action except `.none`, `.sendRequest`, `.sendBody`, `.sendEnd`,
/// `.forwardInterim`, `.startResponse` and `.forwardBody` means "the current upstream connection, if any,
/// is no longer wanted" (`.finishResponse` says whether it may be reused; `.switchProtocols` hands it to
/// the tunnel). While `.tunneling` the driver leaves both sides to the tunnel.
struct ExchangeStateMachine {
    typealias Instant = ExchangeInstant

    /// Where the exchange stands.
    enum State: Equatable {
        /// Before `.start`.
        case idle
        /// The route's credential source was asked and has not answered yet.
        case awaitingCredential
        /// An upstream connection was asked for; the request head is not sent yet.
        case connecting
        /// The request head went upstream; no final response head yet.
        case awaitingResponse
        /// Between attempts, until the instant.
        case waitingToRetry(until: Instant)
        /// A final response head was passed to the client: no going back.
        case responding
        /// The upstream accepted a WebSocket handshake with a 101, which went to the client: both connections
        /// are one byte tunnel (`Tunnel`), which owns them, its idle timeout and back-pressure. The exchange
        /// waits for `.tunnelClosed` to log it.
        case tunneling
        /// Answered, failed or cancelled. Further events are ignored.
        case finished
    }

    /// What happened. Events that do not apply in the current state are ignored (`.none`).
    enum Event {
        /// The request head was planned: begin the first attempt.
        case start
        /// The credential for this attempt (`nil`: inject nothing).
        case credentialReady(InjectedCredential?)
        case credentialFailed(CredentialError)
        /// The upstream connection asked for by `.connect` can take the request.
        case upstreamReady
        /// A request body chunk from the client; `upstreamBacklog` is what the upstream has not yet written.
        case requestBody([UInt8], upstreamBacklog: Int)
        /// The request is complete; `trailers` are its trailer fields (empty: none), kept to go again with the
        /// body on a retry, 401 replay or redirect that keeps the body.
        case requestEnd(trailers: HTTPHeaders = HTTPHeaders())
        /// The upstream's write buffer drained.
        case upstreamDrained
        /// The client's write buffer drained.
        case clientDrained
        /// A 1xx response; `clientBacklog` is what the client has not yet been sent.
        case responseInterim(HTTPResponseHead, clientBacklog: Int)
        /// A final response head with the body framing the upstream announced (passed on, never read here).
        case responseHead(HTTPResponseHead, HTTPBodyFraming)
        case responseBody([UInt8], clientBacklog: Int)
        /// The response is complete; `trailers` are its trailer fields (empty: none).
        case responseEnd(trailers: HTTPHeaders = HTTPHeaders())
        /// The current upstream connection failed or closed before the response completed. `stale`: it came
        /// from the pool and not one response byte arrived (the server had closed it while idle).
        case upstreamFailed(UpstreamFailure, stale: Bool)
        /// `wakeup` passed.
        case timer
        /// The client went away.
        case clientClosed
        /// The byte tunnel after a 101 closed: what it carried each way and why it ended (`Tunnel.CloseReason`).
        case tunnelClosed(bytesFromClient: Int, bytesToClient: Int, reason: String)
    }

    /// What the driver does next. One per event; standing wishes are properties (see the type's contract).
    enum Action {
        case none
        /// Ask the route's credential source (at most `timeout`), then deliver `.credentialReady`/`.credentialFailed`.
        case lookUpCredential(timeout: Duration)
        /// Take a pooled connection to `plan.endpoint` or open one, then deliver `.upstreamReady` (or a failure).
        case connect
        /// Send the request head (built from `plan.head`, `credential` and `requestFraming`) with these body
        /// chunks, and the end of the request when `end` (with `trailers`, as the client sent them).
        case sendRequest(body: [[UInt8]], end: Bool, trailers: HTTPHeaders)
        case sendBody([UInt8])
        /// End the request, with the client's `trailers` (empty: none).
        case sendEnd(trailers: HTTPHeaders)
        /// Wait for `.timer` (the current upstream is dropped).
        case waitToRetry
        case forwardInterim(HTTPResponseHead)
        case startResponse(HTTPResponseHead, HTTPBodyFraming)
        case forwardBody([UInt8])
        /// The response is complete. `reuseUpstream`: the whole request went up, so the connection may go back
        /// to the pool (if the response allows). `closeClient`: the answer came before the whole request body,
        /// whose rest is still on its way, so the client connection cannot carry another request.
        /// `trailers`: the response's trailer fields, for the client (empty: none).
        case finishResponse(reuseUpstream: Bool, closeClient: Bool, trailers: HTTPHeaders)
        /// Answer the client with this error (no response byte was sent). `requestComplete`: the whole
        /// request was read from the client.
        case fail(ProxyError, requestComplete: Bool)
        /// Part of the response already reached the client; cut it off (close the client connection).
        case abortResponse
        /// The client is gone: drop everything.
        case cancelled
        /// The upstream accepted the WebSocket handshake: send this 101 to the client, then join the client and
        /// the upstream connection (taken out of the exchange and never pooled) in a byte tunnel.
        case switchProtocols(HTTPResponseHead)
        /// The tunnel closed: log the exchange (status 101, the tunnel's bytes counted in) with `reason`.
        case finishTunnel(reason: String)
    }

    /// Above this many bytes waiting for a side, the other side stops being read.
    static let highWaterMark = 256 * 1024

    // MARK: Inputs fixed at start

    /// The request as the client made it, for the access log and the metrics: a followed redirect changes
    /// `plan`, not this. (A copy of the whole first plan cost a retain and a release of each reference in it.)
    let origin: RequestOrigin
    /// The request head as the client sent it (a redirect to another origin is planned from it). Its fields
    /// leave only once the exchange is over (`takeRequestHeaders`).
    private(set) var requestHead: HTTPRequestHead
    let policy: ExchangePolicy
    /// The runtime the request started with: a followed redirect is planned against it.
    let runtime: ProxyRuntime
    /// Backoff jitter in [0, 1).
    let random: () -> Double
    /// The wall clock, for an HTTP-date `Retry-After`.
    let wallClock: () -> Date

    // MARK: State (the driver reads it, only the machine's own facets write it)

    var state: State = .idle
    /// The plan of the current attempt (a followed redirect replaces it).
    var plan: ForwardPlan
    /// The body framing as sent upstream (a redirect to GET drops the body).
    var requestFraming: HTTPBodyFraming
    /// This attempt's credential, once looked up.
    var credential: InjectedCredential?
    /// Whether the current plan carries the route's credential (false after a redirect to another origin).
    var injectsCredential = true
    /// A credential the upstream rejected (401) that the driver must invalidate; see `takeRejectedCredential`.
    var rejectedCredential: InjectedCredential?

    var body = ExchangeBody()
    /// The client's request trailers, once the request is complete; sent again with the body on every attempt.
    var requestTrailers = HTTPHeaders()
    var requestComplete = false
    var requestFullySent = false

    var attemptNumber = 0
    var retriesUsed = 0
    var redirectsFollowed = 0
    var replayedAfterRejection = false
    var staleConnectionRetried = false
    /// Attempts that went again because an HTTP/2 server refused the stream unprocessed.
    var refusedStreamRetries = 0
    /// One line per attempt and redirect, for the error detail of a failure after more than one attempt.
    var history: [String] = []

    var startedAt: Instant?
    /// `startedAt` + the policy's deadline: no attempt or retry wait goes past it. Stored once at `.start`
    /// (it is read on every event).
    var overallDeadline: Instant?
    var upstreamStartedAt: Instant?
    var upstreamDuration: Duration?
    /// The current attempt must have a response head by then.
    var headDeadline: Instant?
    var responseStatus = 0
    var requestBytes = 0
    var responseBytes = 0

    /// What the driver keeps true after each event. Stored, not computed: a driver holding the machine in a
    /// class reads a stored field in place, where calling a computed property would copy the whole machine.
    struct Wishes: Equatable {
        /// When to deliver `.timer`; nil: no timer.
        var wakeup: Instant?
        /// Stop reading the client (the upstream, or the bytes waiting for it, are above the mark).
        var clientReadingPaused = false
        /// Stop reading the upstream (the client's write buffer is above the mark).
        var upstreamReadingPaused = false
        /// The exchange is over: leave both sides alone (the client may already run its next exchange).
        var finished = false
    }

    /// Updated at the end of every `event`.
    var wishes = Wishes()
    var clientReadingPaused: Bool {
        get { wishes.clientReadingPaused }
        set { wishes.clientReadingPaused = newValue }
    }
    var upstreamReadingPaused: Bool {
        get { wishes.upstreamReadingPaused }
        set { wishes.upstreamReadingPaused = newValue }
    }

    init(
        plan: ForwardPlan, requestHead: HTTPRequestHead, framing: HTTPBodyFraming, runtime: ProxyRuntime,
        random: @escaping () -> Double = { Double.random(in: 0..<1) }, wallClock: @escaping () -> Date = { Date() }
    ) {
        self.origin = plan.origin
        self.plan = plan
        self.requestHead = requestHead
        self.requestFraming = framing
        self.runtime = runtime
        self.policy = plan.route?.policy ?? ExchangePolicy.passthrough
        self.random = random
        self.wallClock = wallClock
        body.limit = policy.bodyBufferBytes
        if framing == .none { requestComplete = true }
    }

    /// When the driver must deliver `.timer` (`wishes.wakeup`).
    var wakeup: Instant? { wishes.wakeup }

    /// The head timeout, the end of a retry wait or the overall deadline, whichever comes first; nil once a
    /// response is under way or the exchange is over.
    private var nextWakeup: Instant? {
        switch state {
        case .idle, .responding, .tunneling, .finished: return nil
        case .waitingToRetry(let until): return min(until, overallDeadline ?? until)
        case .awaitingCredential, .connecting, .awaitingResponse:
            guard let headDeadline else { return overallDeadline }
            return min(headDeadline, overallDeadline ?? headDeadline)
        }
    }


    /// Whether the request head of the current attempt went upstream.
    var headSent: Bool { state == .awaitingResponse || state == .responding }

    /// A credential the upstream answered 401 to, once: the driver tells the source to forget it.
    /// Asked after every event: nearly always there is none, answered by the optional's case alone (`!= nil`
    /// copied the credential and destroyed the copy, even when there was none).
    mutating func takeRejectedCredential() -> InjectedCredential? {
        guard case .some = rejectedCredential else { return nil }
        return rejectedCredential.take()
    }

    // MARK: Events

    mutating func event(_ event: consuming Event, now: Instant) -> Action {
        let action = apply(event, now: now)
        wishes.wakeup = nextWakeup
        wishes.finished = state == .finished
        return action
    }

    private mutating func apply(_ event: consuming Event, now: Instant) -> Action {
        if state == .finished { return .none }
        switch consume event {
        case .start:
            guard state == .idle else { return .none }
            startedAt = now
            overallDeadline = now + policy.deadline
            return beginAttempt(now: now)
        case .credentialReady(let value):
            guard state == .awaitingCredential else { return .none }
            credential = value
            return connect(now: now)
        case .credentialFailed(let error):
            guard state == .awaitingCredential else { return .none }
            return fail(credentialError(error))
        case .upstreamReady:
            guard state == .connecting else { return .none }
            return sendRequest()
        case .requestBody(let chunk, let backlog):
            return requestBody(chunk, upstreamBacklog: backlog)
        case .requestEnd(let trailers):
            requestComplete = true
            requestTrailers = trailers
            guard headSent else { return .none }
            requestFullySent = true
            return .sendEnd(trailers: trailers)
        case .upstreamDrained:
            clientReadingPaused = false
            return .none
        case .clientDrained:
            upstreamReadingPaused = false
            return .none
        case .responseInterim(let head, let backlog):
            guard state == .awaitingResponse else { return .none }
            // An upstream may send any number of 1xx: they count against the client's write buffer too.
            if backlog > Self.highWaterMark { upstreamReadingPaused = true }
            return .forwardInterim(head)
        case .responseHead(let head, let framing):
            guard state == .awaitingResponse else { return .none }
            return responseHead(head, framing: framing, now: now)
        case .responseBody(let chunk, let backlog):
            guard state == .responding else { return .none }
            responseBytes += chunk.count
            if backlog + chunk.count > Self.highWaterMark { upstreamReadingPaused = true }
            return .forwardBody(chunk)
        case .responseEnd(let trailers):
            guard state == .responding else { return .none }
            state = .finished
            return .finishResponse(
                reuseUpstream: requestFullySent && requestComplete, closeClient: !requestComplete, trailers: trailers)
        case .upstreamFailed(let failure, let stale):
            guard state == .connecting || state == .awaitingResponse || state == .responding else { return .none }
            return attemptFailed(failure, stale: stale, now: now)
        case .timer:
            // A tunnel has no head timeout or deadline (its idle timeout is the tunnel's); a late timer is stale.
            guard state != .tunneling else { return .none }
            return timer(now: now)
        case .clientClosed:
            // A tunnel reports its own close (the client's among its reasons).
            guard state != .tunneling else { return .none }
            state = .finished
            return .cancelled
        case .tunnelClosed(let fromClient, let toClient, let reason):
            guard state == .tunneling else { return .none }
            state = .finished
            requestBytes += fromClient
            responseBytes += toClient
            return .finishTunnel(reason: reason)
        }
    }

    // MARK: Request body

    private mutating func requestBody(_ chunk: [UInt8], upstreamBacklog: Int) -> Action {
        requestBytes += chunk.count
        body.received(chunk)
        guard headSent else {
            // Until the upstream takes the head the chunks wait here (bounded by pausing the client).
            body.hold(chunk)
            if body.unsentBytes > Self.highWaterMark { clientReadingPaused = true }
            return .none
        }
        if upstreamBacklog + chunk.count > Self.highWaterMark { clientReadingPaused = true }
        return .sendBody(chunk)
    }

    private mutating func sendRequest() -> Action {
        state = .awaitingResponse
        let chunks = body.takeUnsent()
        requestFullySent = requestComplete
        // What waited here is now the upstream's to write; its drain (or the next chunk) decides again.
        clientReadingPaused = false
        return .sendRequest(body: chunks, end: requestComplete, trailers: requestComplete ? requestTrailers : HTTPHeaders())
    }

    // MARK: Endings

    /// Answers the client with `error` (before any response byte was sent).
    mutating func fail(_ error: ProxyError) -> Action {
        state = .finished
        headDeadline = nil
        return .fail(error, requestComplete: requestComplete)
    }

    /// Adds `attempt N: detail` to the history the error details are built from.
    mutating func noteAttempt(_ detail: String) { history.append("attempt \(attemptNumber): \(detail)") }
}

extension ExchangeStateMachine {
    /// The head the current attempt sends upstream: `RequestRewrite.upstreamHead` over the current plan, with
    /// the credential when the plan carries it.
    ///
    /// `mutating` though it changes nothing: the driver holds the machine in a class, and a plan read from
    /// there as an argument was copied whole (a retain and a release of each of its references, twice per
    /// request); a mutating call reaches the plan in place. `storage`: the upstream connection's spare header
    /// storage, which the head is built into (`ExchangeUpstream.takeSpareRequestHeaders`).
    mutating func upstreamHead(reusing storage: consuming HTTPHeaders = HTTPHeaders()) -> HTTPRequestHead {
        RequestRewrite.upstreamHead(
            plan: plan, credential: injectsCredential ? credential : nil, framing: requestFraming,
            receivedVersion: requestHead.version, reusing: consume storage)
    }

    /// The request head's header storage, taken once the exchange is over so that the client connection's
    /// parser reuses it for the next request (`HTTP1RequestParser.recycle`); the head keeps its start line
    /// and no fields. The plan's head shares the storage (it is the client's head with another target): its
    /// fields go too, or the storage would not be this head's alone to reuse.
    mutating func takeRequestHeaders() -> HTTPHeaders {
        plan.head.headers = HTTPHeaders()
        var headers = HTTPHeaders()
        swap(&headers, &requestHead.headers)
        return headers
    }
}
