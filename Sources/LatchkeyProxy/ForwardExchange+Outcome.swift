import LatchkeyHTTP
import LatchkeyNet

extension ForwardExchange {
    // MARK: Failures before a response head

    func upstream(_ upstream: UpstreamConnection, didFail failure: UpstreamFailure) {
        guard upstream === self.upstream, !finished else { return }
        self.upstream = nil
        attemptFailed(failure, connection: upstream)
    }

    /// An attempt ended without a usable response head: retry when the policy and the body allow it,
    /// else answer the client (or cut off a response already under way).
    func attemptFailed(_ failure: UpstreamFailure, connection: UpstreamConnection?) {
        headTimer?.cancel()
        headTimer = nil
        if responseStarted {
            // Part of the response is already with the client: the only honest signal left is to cut it off.
            finished = true
            cancelTimers()
            log.record(exchange: self, status: responseStatus, outcome: "upstream_aborted")
            client.exchangeDidFinish(self, keepAlive: false, abort: true)
            return
        }
        if case .network(let error) = failure, error.code == .destinationRefused {
            // A policy answer, not a network fault: the same destination is refused on every attempt.
            fail(proxyError(for: failure))
            return
        }
        let nothingSent = !headSent
        // A pooled connection the server closed while idle fails before any response byte; the request never
        // reached the application, so it goes again on a fresh connection (once, not counted as a retry).
        if let connection, connection.requestCount > 1, !connection.receivedBytesForCurrentRequest,
            !staleConnectionRetried, requestFraming == .none || replayable
        {
            staleConnectionRetried = true
            attemptNumber -= 1
            if headSent { rewindBody() }
            beginAttempt()
            return
        }
        let error = proxyError(for: failure)
        attemptHistory.append("attempt \(attemptNumber): \(error.detail)")
        let outcome: AttemptOutcome = nothingSent && isConnectFailure(failure) ? .connectFailed : .networkError
        // A connect failure sent nothing, so whatever body arrived is still unsent: always replayable.
        if policy.isRetryable(outcome), nothingSent || replayable, scheduleRetry(retryAfter: nil) {
            return
        }
        fail(errorWithHistory(error))
    }

    private func isConnectFailure(_ failure: UpstreamFailure) -> Bool {
        guard case .network(let error) = failure else { return false }
        switch error.code {
        case .resolveFailed, .connectFailed, .connectTimeout, .tlsFailed: return true
        case .reset, .ioFailed, .destinationRefused: return false
        }
    }

    func headTimedOut() {
        guard !finished, !responseStarted else { return }
        abandonAttempt()
        let milliseconds = AccessLog.milliseconds(plan.timeout)
        let detail = "no response from \(plan.endpoint.scheme)://\(plan.endpoint.authority) within \(milliseconds) ms"
        attemptHistory.append("attempt \(attemptNumber): \(detail)")
        if policy.isRetryable(.timedOut), replayable || !headSent, scheduleRetry(retryAfter: nil) {
            return
        }
        fail(errorWithHistory(ProxyError(.upstreamTimeout, detail, route: plan.routeName, connection: plan.connectionName)))
    }

    func deadlineExpired() {
        guard !finished, !responseStarted else { return }
        if retryTimer == nil || upstream != nil {
            attemptHistory.append("attempt \(attemptNumber): no response from \(plan.endpoint.scheme)://\(plan.endpoint.authority) before the deadline")
        }
        abandonAttempt()
        retryTimer?.cancel()
        let detail = "deadline of \(AccessLog.milliseconds(policy.deadline)) ms passed after \(attemptNumber) attempt(s)"
        fail(
            ProxyError(
                .deadlineExceeded, ([detail] + attemptHistory).joined(separator: "; "),
                route: originalPlan.routeName, connection: originalPlan.connectionName))
    }

    /// Schedules the next attempt after the policy's delay (or Retry-After), when retries and the deadline
    /// allow. Returns false when no retry is possible (the caller answers the client). The caller has checked
    /// that the body can go again (nothing sent yet, or all of it kept for replay).
    func scheduleRetry(retryAfter: Duration?) -> Bool {
        guard retriesUsed + 1 < policy.maxAttempts else { return false }
        let delay = policy.delay(beforeRetry: retriesUsed + 1, retryAfter: retryAfter) { Double.random(in: 0..<1) }
        if ContinuousClock.now + delay >= startedAt + policy.deadline { return false }
        abandonAttempt()
        retriesUsed += 1
        if headSent { rewindBody() }
        retryTimer = loop.schedule(after: delay) { [self] in
            retryTimer = nil
            beginAttempt()
        }
        return true
    }

    func errorWithHistory(_ error: ProxyError) -> ProxyError {
        guard attemptNumber > 1 || redirectsFollowed > 0 else { return error }
        return ProxyError(
            error.code, attemptHistory.joined(separator: "; "), status: error.status, route: error.route,
            connection: error.connection)
    }

    func proxyError(for failure: UpstreamFailure) -> ProxyError {
        let target = "\(plan.endpoint.scheme)://\(plan.endpoint.authority)"
        let (code, detail): (ProxyError.Code, String)
        switch failure {
        case .network(let error):
            switch error.code {
            case .tlsFailed: (code, detail) = (.upstreamTLSFailed, "TLS with \(target) failed: \(error.detail)")
            case .connectTimeout: (code, detail) = (.upstreamConnectTimeout, error.detail)
            case .resolveFailed, .connectFailed: (code, detail) = (.upstreamConnectFailed, error.detail)
            case .destinationRefused: (code, detail) = (.destinationRefused, error.detail)
            case .reset, .ioFailed: (code, detail) = (.upstreamClosed, "\(target): \(error.detail)")
            }
        case .protocolError(let error):
            (code, detail) = (.upstreamProtocolError, "invalid response from \(target): \(error)")
        case .closed:
            (code, detail) = (.upstreamClosed, "\(target) closed the connection before a complete response")
        }
        return ProxyError(code, detail, route: plan.routeName, connection: plan.connectionName)
    }

    // MARK: Endings

    /// Answers the client with `error` (before any response byte was sent).
    func fail(_ error: ProxyError) {
        guard !finished else { return }
        finished = true
        cancelTimers()
        abandonAttempt()
        log.record(exchange: self, status: error.status, outcome: error.code.rawValue)
        client.exchangeDidFail(self, error: error, requestComplete: requestComplete)
    }

    func complete(forceClientClose: Bool = false) {
        guard !finished else { return }
        finished = true
        cancelTimers()
        if let upstream {
            self.upstream = nil
            if upstreamReusable, requestFullySent, !forceClientClose, !upstream.isClosed {
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
        cancelTimers()
        abandonAttempt()
        log.record(exchange: self, status: responseStarted ? responseStatus : 499, outcome: "client_closed")
    }

    private func cancelTimers() {
        headTimer?.cancel()
        deadlineTimer?.cancel()
        retryTimer?.cancel()
        headTimer = nil
        deadlineTimer = nil
        retryTimer = nil
    }
}
