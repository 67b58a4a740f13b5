import LatchkeyHTTP

extension ExchangeStateMachine {
    /// Decides, before anything reaches the client, what a final response head means: a 101 (a tunnel for a
    /// WebSocket handshake, refused otherwise), a 401 with a renewable credential (replayed once), a redirect
    /// to follow, a retryable status, or the response to pass on.
    mutating func responseHead(_ head: HTTPResponseHead, framing: HTTPBodyFraming, now: Instant) -> Action {
        let status = head.status
        if status == 101 {
            // RFC 9110 §15.2.2: a server switches protocols only when the request asked to. The proxy asks
            // only for a WebSocket handshake (`plan.upgradesToWebSocket`), and only to `websocket`.
            if plan.upgradesToWebSocket, WebSocketHandshake.acceptsSwitch(head, expectedAccept: plan.webSocketAccept) {
                // Final (RFC 6455 §4.1): no retry, replay or redirect from here on. The connections become a
                // byte tunnel, and the exchange ends when it closes (`.tunnelClosed`).
                headDeadline = nil
                upstreamDuration = upstreamStartedAt.map { now - $0 }
                state = .tunneling
                responseStatus = status
                clientReadingPaused = false
                upstreamReadingPaused = false
                return .switchProtocols(head)
            }
            // An unsolicited 101, or one to another protocol, leaves the connection speaking something the
            // proxy did not ask for: it is closed, and the client gets a 502.
            // The proxy checks Sec-WebSocket-Accept itself only when it made the key (an RFC 8441 client has
            // none to check with).
            let detail =
                !plan.upgradesToWebSocket
                ? "answered 101 Switching Protocols to a request that asked for no upgrade (the proxy forwards Upgrade only for websocket)"
                : WebSocketHandshake.acceptsSwitch(head)
                    ? "answered 101 Switching Protocols with a Sec-WebSocket-Accept that does not match the proxy's Sec-WebSocket-Key (RFC 6455 §4.1)"
                    : "answered 101 Switching Protocols to a WebSocket handshake without Upgrade: websocket (HTTP/1.1)"
            return fail(
                errorWithHistory(
                    ProxyError(
                        .upstreamProtocolError, "\(plan.endpoint.scheme)://\(plan.endpoint.authority) \(detail)",
                        route: plan.routeName, connection: plan.connectionName)))
        }
        // The history line of this attempt is written only when the head does not go to the client: a response
        // passed on needs no story, so the common case builds no string.
        let canReplay = body.replayable && requestComplete
        if status == 401, injectsCredential, let source = plan.route?.source, source.renewsOnRejection,
            let rejected = credential
        {
            // RFC 6750 §3.1: the token was rejected. It is dropped either way, so the next request gets a new
            // one; this request is replayed with a new token once, when its body was kept. Never a loop.
            rejectedCredential = rejected
            if !replayedAfterRejection, canReplay {
                noteStatus(status)
                replayedAfterRejection = true
                body.rewind()
                headDeadline = nil
                return beginAttempt(now: now)
            }
        }
        // A WebSocket handshake is not redirected: the client checks its answer against its own request
        // (RFC 6455 §4.1 lets a client follow a 3xx itself), so the 3xx goes to it.
        let redirect =
            (300...399).contains(status) && !plan.upgradesToWebSocket
            ? RedirectRule.follow(status: status, method: plan.head.method) : nil
        if policy.maxRedirects > redirectsFollowed, let location = head.headers.first(.location), let redirect {
            // 307/308 need the body again; when it was not kept, the client gets the 3xx.
            if !(redirect.keepsBody && !canReplay && requestFraming != .none),
                noteStatus(status),
                let action = followRedirect(
                    to: location, method: redirect.method, keepsBody: redirect.keepsBody, now: now)
            {
                return action
            }
        } else if policy.maxRedirects > 0, redirectsFollowed >= policy.maxRedirects, redirect != nil,
            head.headers.contains(.location)
        {
            noteStatus(status)
            return fail(
                ProxyError(
                    .tooManyRedirects,
                    "stopped after \(redirectsFollowed) redirects (max_redirects \(policy.maxRedirects)); \(history.joined(separator: "; "))",
                    route: origin.routeName, connection: origin.connectionName))
        }
        if policy.isRetryable(.status(status), redirectFollowed: false), canReplay {
            let retryAfter =
                RetryAfter.applies(toStatus: status)
                ? head.headers.first("Retry-After").flatMap { RetryAfter.parse($0, now: wallClock()) } : nil
            if scheduleRetry(retryAfter: retryAfter, now: now) {
                noteStatus(status)
                return .waitToRetry
            }
        }
        headDeadline = nil
        upstreamDuration = upstreamStartedAt.map { now - $0 }
        state = .responding
        responseStatus = status
        return .startResponse(head, framing)
    }

    /// `attempt N: STATUS from ORIGIN`, once per attempt (a redirect that cannot be followed may have written
    /// it already). Always true, so that it can sit in a condition list.
    @discardableResult
    private mutating func noteStatus(_ status: Int) -> Bool {
        let line = "attempt \(attemptNumber): \(status) from \(plan.endpoint.scheme)://\(plan.endpoint.authority)"
        if history.last != line { history.append(line) }
        return true
    }
}
