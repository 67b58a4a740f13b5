import LatchkeyAuth
import LatchkeyHTTP
import LatchkeyNet

extension ExchangeStateMachine {
    // MARK: Attempts

    /// Starts an attempt: a fresh credential lookup (a token renewed meanwhile is used), then the upstream.
    mutating func beginAttempt(now: Instant) -> Action {
        attemptNumber += 1
        credential = nil
        requestFullySent = false
        guard injectsCredential, plan.route?.source != nil else { return connect(now: now) }
        state = .awaitingCredential
        // The source waits at most its token_wait_ms, and never past this attempt's timeout or the exchange's
        // deadline (issue 10 §2).
        let left = (overallDeadline ?? now) - now
        return .lookUpCredential(timeout: min(plan.timeout, max(left, .milliseconds(1))))
    }

    /// Asks for the upstream connection; the head timeout of this attempt runs from here.
    mutating func connect(now: Instant) -> Action {
        state = .connecting
        headDeadline = now + plan.timeout
        upstreamStartedAt = now
        return .connect
    }

    /// Another attempt after the current one was given up: the body goes again when its head went out.
    private mutating func restart(now: Instant) -> Action {
        if headSent { body.rewind() }
        headDeadline = nil
        return beginAttempt(now: now)
    }

    // MARK: Failures before a response head

    /// An attempt ended without a usable response head: retry when the policy and the body allow it, else
    /// answer the client (or cut off a response already under way).
    mutating func attemptFailed(_ failure: UpstreamFailure, stale: Bool, now: Instant) -> Action {
        headDeadline = nil
        if plan.upgradesToWebSocket, plan.http2 != .never, state != .responding, Self.requiresHTTP11(failure) {
            // An h2 upstream that does not offer extended CONNECT (RFC 8441 §3) cannot carry the WebSocket: the
            // handshake goes again as an HTTP/1.1 upgrade on a connection of its own (once: `.never` now).
            // Not once a refusal of the handshake is on its way to the client: a second head cannot follow.
            plan.http2 = .never
            if let route = plan.route, plan.endpoint.isTLS { plan.tls = route.http1TLS }
            attemptNumber -= 1
            return restart(now: now)
        }
        if state == .responding {
            // Part of the response is already with the client: the only honest signal left is to cut it off.
            state = .finished
            return .abortResponse
        }
        if case .network(let error) = failure, error.code == .destinationRefused {
            // A policy answer, not a network fault: the same destination is refused on every attempt.
            return fail(proxyError(for: failure))
        }
        let nothingSent = !headSent
        // A pooled connection the server closed while idle fails before any response byte; the request never
        // reached the application, so it goes again on a fresh connection (once, not counted as a retry).
        // An HTTP/2 stream the server refused (REFUSED_STREAM, or above a GOAWAY's last-stream-id, RFC 9113
        // §8.7) was provably not processed: it goes again up to `maxRefusedStreamRetries` times, since a
        // server draining connections under load may refuse it on the next connection too.
        if stale, requestFraming == .none || body.replayable {
            if Self.isRefusedStream(failure), refusedStreamRetries < Self.maxRefusedStreamRetries {
                refusedStreamRetries += 1
                attemptNumber -= 1
                return restart(now: now)
            }
            if !staleConnectionRetried {
                staleConnectionRetried = true
                attemptNumber -= 1
                return restart(now: now)
            }
        }
        let error = proxyError(for: failure)
        noteAttempt(error.detail)
        let outcome: AttemptOutcome = nothingSent && Self.isConnectFailure(failure) ? .connectFailed : .networkError
        // A connect failure sent nothing, so whatever body arrived is still unsent: always replayable.
        if policy.isRetryable(outcome), nothingSent || body.replayable, scheduleRetry(retryAfter: nil, now: now) {
            return .waitToRetry
        }
        return fail(errorWithHistory(error))
    }

    /// How often one request may go again after HTTP/2 refusals (not counted as retries).
    static let maxRefusedStreamRetries = 4

    static func isRefusedStream(_ failure: UpstreamFailure) -> Bool {
        if case .http2(let error) = failure { error.code == .refusedStream } else { false }
    }

    /// HTTP_1_1_REQUIRED (RFC 9113 §7): what an h2 upstream stream reports when it cannot carry the request.
    static func requiresHTTP11(_ failure: UpstreamFailure) -> Bool {
        if case .http2(let error) = failure { error.code == .http11Required } else { false }
    }

    static func isConnectFailure(_ failure: UpstreamFailure) -> Bool {
        guard case .network(let error) = failure else { return false }
        switch error.code {
        case .resolveFailed, .connectFailed, .connectTimeout, .tlsFailed: return true
        case .reset, .ioFailed, .destinationRefused: return false
        }
    }

    // MARK: Time

    /// `wakeup` passed: the earliest of the head timeout, the overall deadline and the retry wait decides.
    mutating func timer(now: Instant) -> Action {
        let deadline = overallDeadline
        if let headDeadline, headDeadline <= now, deadline.map({ headDeadline < $0 }) ?? true {
            return headTimedOut(now: now)
        }
        if let deadline, deadline <= now { return deadlineExpired() }
        if case .waitingToRetry(let until) = state, until <= now { return beginAttempt(now: now) }
        return .none  // early (the driver's timer is coarse): the driver arms it again for `wakeup`
    }

    private mutating func headTimedOut(now: Instant) -> Action {
        let wasSent = headSent
        headDeadline = nil
        let milliseconds = AccessLog.milliseconds(plan.timeout)
        let detail = "no response from \(plan.endpoint.scheme)://\(plan.endpoint.authority) within \(milliseconds) ms"
        noteAttempt(detail)
        if policy.isRetryable(.timedOut), body.replayable || !wasSent, scheduleRetry(retryAfter: nil, now: now) {
            return .waitToRetry
        }
        let error = ProxyError(.upstreamTimeout, detail, route: plan.routeName, connection: plan.connectionName)
        return fail(errorWithHistory(error))
    }

    private mutating func deadlineExpired() -> Action {
        if case .waitingToRetry = state {
        } else {
            noteAttempt("no response from \(plan.endpoint.scheme)://\(plan.endpoint.authority) before the deadline")
        }
        let milliseconds = AccessLog.milliseconds(policy.deadline)
        let detail = "deadline of \(milliseconds) ms passed after \(attemptNumber) attempt(s)"
        return fail(
            ProxyError(
                .deadlineExceeded, ([detail] + history).joined(separator: "; "),
                route: origin.routeName, connection: origin.connectionName))
    }

    /// Enters the wait before the next attempt (the policy's delay, or Retry-After), when retries and the
    /// deadline allow. Returns false when no retry is possible (the caller answers the client). The caller has
    /// checked that the body can go again (nothing sent yet, or all of it kept for replay).
    mutating func scheduleRetry(retryAfter: Duration?, now: Instant) -> Bool {
        guard retriesUsed + 1 < policy.maxAttempts else { return false }
        let delay = policy.delay(beforeRetry: retriesUsed + 1, retryAfter: retryAfter, random: random)
        if let deadline = overallDeadline, now + delay >= deadline { return false }
        if headSent { body.rewind() }
        headDeadline = nil
        retriesUsed += 1
        state = .waitingToRetry(until: now + delay)
        return true
    }
}
