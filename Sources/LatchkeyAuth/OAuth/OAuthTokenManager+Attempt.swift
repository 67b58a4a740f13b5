import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import Logging

// Fetching, single flight, renewal and backoff. Everything here runs on `queue`.
extension OAuthTokenManager {
    /// Serves `completion` from the cache, fails at once while the last failure was permanent, or
    /// waits for the attempt in flight or the next retry (starting one when none is due later) for up
    /// to `min(timeout, token_wait_ms)`. `forceAttempt` (for `check`) ignores the cache, the backoff and
    /// the refusal, and is answered by the first attempt's outcome.
    func enqueueFetch(
        for key: CredentialKey, timeout: Duration, forceAttempt: Bool,
        completion: @escaping @Sendable (Result<CachedToken, CredentialError>) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        let now = clock.now()
        var state = states[key] ?? KeyState()
        if !forceAttempt, let token = state.token, token.isUsable(at: now) {
            completion(.success(token))
            return
        }
        if !forceAttempt, state.refused, !state.inFlight, let error = state.lastError {
            completion(.failure(error))  // permanent: no loop; the slow background retry is scheduled
            return
        }
        let wait = forceAttempt ? timeout : min(timeout, .milliseconds(settings.tokenWaitMs))
        if !forceAttempt, !state.inFlight, let retryAt = state.retryAt, now + wait <= retryAt, let error = state.lastError {
            completion(.failure(error))  // the wait would end before the next attempt (backoff, Retry-After)
            return
        }
        nextWaiterID += 1
        let id = nextWaiterID
        let timer = clock.schedule(after: wait, on: queue) { [weak self] in self?.waiterTimedOut(key: key, id: id, wait: wait) }
        state.waiters[id] = Waiter(completion: completion, timeout: timer, deadline: now + wait, oneShot: forceAttempt)
        states[key] = state
        guard !state.inFlight else { return }
        if !forceAttempt, let retryAt = state.retryAt, now < retryAt {
            // Inside the backoff (or a Retry-After): wait for the retry rather than hammer the endpoint.
            if state.timer == nil { scheduleRetry(key, after: retryAt - now) }
            return
        }
        startAttempt(for: key)
    }

    /// A waiter's `token_wait_ms` is over: it gets the last attempt's error (the provider's words, a 502)
    /// or, when no attempt has finished yet, a timeout (a 504).
    private func waiterTimedOut(key: CredentialKey, id: UInt64, wait: Duration) {
        guard let waiter = states[key]?.waiters.removeValue(forKey: id) else { return }
        if let error = states[key]?.lastError { return waiter.completion(.failure(error)) }
        let ms = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        waiter.completion(.failure(CredentialError(.timeout, connection: connectionName, detail: "no token within \(ms) ms")))
    }

    /// Starts the one token request for `key`, or queues it while `maxConcurrentRequests` are in flight.
    func startAttempt(for key: CredentialKey) {
        states[key, default: KeyState()].inFlight = true
        states[key]!.retryAt = nil
        states[key]!.timer?.cancel()
        states[key]!.timer = nil
        if activeAttempts < Self.maxConcurrentRequests {
            launchAttempt(for: key)
        } else {
            queuedAttempts.append(key)
        }
    }

    /// Sends the token request for `key` (discovering the endpoint first if needed).
    private func launchAttempt(for key: CredentialKey) {
        activeAttempts += 1
        states[key]!.counters.tokenRequested += 1
        resolveTokenURL { [self] result in
            switch result {
            case .failure(let error):
                finish(key, .failure(error), sentAt: clock.now(), fromAttempt: true)
            case .success(let url):
                let sentAt = clock.now()
                let acquire = self.acquire ?? { [self] key, url, completion in requestClientCredentials(for: key, tokenURL: url, completion: completion) }
                acquire(key, url) { parsed in self.onQueue { self.finish(key, parsed, sentAt: sentAt, fromAttempt: true) } }
            }
        }
    }

    /// A slot came free: launch the oldest queued attempt whose key still wants one.
    private func launchQueuedAttempts() {
        while activeAttempts < Self.maxConcurrentRequests, !queuedAttempts.isEmpty {
            let key = queuedAttempts.removeFirst()
            if states[key]?.inFlight == true { launchAttempt(for: key) }
        }
    }

    /// The renewal or retry timer for `key`, replacing any other.
    private func scheduleRetry(_ key: CredentialKey, after delay: Duration) {
        states[key]?.timer?.cancel()
        states[key]?.timer = clock.schedule(after: delay, on: queue) { [weak self] in self?.renew(key) }
    }

    /// The client-credentials grant (RFC 6749 §4.4.2) for `key`.
    func requestClientCredentials(
        for key: CredentialKey, tokenURL: EndpointURL, completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void
    ) {
        let request: TokenEndpointRequest
        do throws(CredentialError) {
            request = try builder.makeRequest(
                tokenURL: tokenURL, parameters: OAuthRequestParameters(settings: settings, key: key), now: clock.wallClock())
        } catch {
            return completion(.failure(error))
        }
        TokenEndpointCall.send(request, client: client, connection: connectionName, completion: completion)
    }

    /// The token endpoint: configured, already discovered, or discovered now (one discovery at a time).
    func resolveTokenURL(_ completion: @escaping @Sendable (Result<EndpointURL, CredentialError>) -> Void) {
        if let url = settings.tokenURL { return completion(.success(url)) }
        resolveDiscovery { completion($0.map(\.tokenEndpoint)) }
    }

    /// The discovered metadata: cached, or discovered now (one discovery at a time). Fails when there
    /// is no `discovery_url`. Runs on `queue`; `completion` runs on `queue`.
    func resolveDiscovery(_ completion: @escaping @Sendable (Result<Discovery.Metadata, CredentialError>) -> Void) {
        if let discovered { return completion(.success(discovered)) }
        if discoveryWaiters != nil {
            discoveryWaiters!.append(completion)
            return
        }
        if let discoveryURL = settings.discoveryURL {
            do throws(CredentialError) {
                try TokenRequestBuilder.checkTransport(discoveryURL, settings: settings, connection: connectionName)
            } catch {
                return completion(.failure(error))
            }
        }
        discoveryWaiters = [completion]
        Discovery(connectionName: connectionName, settings: settings).run(client: client) { result in
            self.onQueue {
                if case .success(let metadata) = result {
                    self.discovered = metadata
                    self.logger.info("OAuth discovery found token endpoint", metadata: ["latchkey.oauth.token_url": "\(metadata.tokenEndpoint)"])
                }
                let waiters = self.discoveryWaiters ?? []
                self.discoveryWaiters = nil
                for waiter in waiters { waiter(result) }
            }
        }
    }

    /// Records the outcome of an attempt (`fromAttempt`; false for `install`), schedules the next
    /// renewal or retry, and answers the waiters that this outcome settles.
    func finish(_ key: CredentialKey, _ result: Result<TokenGrant, CredentialError>, sentAt: MonotonicInstant, fromAttempt: Bool) {
        dispatchPrecondition(condition: .onQueue(queue))
        if fromAttempt { activeAttempts -= 1 }
        defer { if fromAttempt { launchQueuedAttempts() } }
        guard var state = states[key] else { return }
        let now = clock.now()
        state.inFlight = false
        state.timer?.cancel()
        state.timer = nil
        var answered: [Waiter]
        let outcome: Result<CachedToken, CredentialError>
        switch result {
        case .success(let grant):
            let token = cache(grant, in: &state, key: key, sentAt: sentAt, now: now)
            answered = Array(state.waiters.values)
            state.waiters = [:]
            outcome = .success(token)
        case .failure(let error):
            answered = recordFailure(error, in: &state, key: key, now: now)
            outcome = .failure(error)
        }
        states[key] = state
        for waiter in answered {
            waiter.timeout?.cancel()
            waiter.completion(outcome)
        }
    }

    /// Caches and publishes `grant` and schedules its renewal.
    private func cache(_ grant: TokenGrant, in state: inout KeyState, key: CredentialKey, sentAt: MonotonicInstant, now: MonotonicInstant)
        -> CachedToken
    {
        let credential = InjectedCredential(headerName: "Authorization", headerValue: SecretString(AuthScheme.bearer(grant.accessToken)))
        let expiresAt = grant.expiresIn.map { sentAt + $0 }
        let usableUntil = grant.expiresIn.map { sentAt + ($0 - Self.expirySkew(lifetime: $0)) }
        let token = CachedToken(
            credential: credential, expiresAt: expiresAt, usableUntil: usableUntil,
            wallExpiresAt: expiresAt.map { clock.wallClock() + ($0 - now).seconds }, lifetime: grant.expiresIn, scope: grant.scope)
        state.token = token
        state.counters.tokenFetched += 1
        fetchObserver?(true)
        state.consecutiveFailures = 0
        state.lastError = nil
        state.retryAt = nil
        state.refused = false
        if let lifetime = grant.expiresIn {
            let delay = RefreshSchedule.renewalDelay(
                lifetime: lifetime, configuredRefreshBefore: settings.refreshBeforeMs.map { .milliseconds($0) }, random: random())
            // Renew before the token stops being injected, whatever refresh_before_ms says.
            let renewAt = min(sentAt + delay, usableUntil ?? sentAt + delay)
            let remaining = max(renewAt - now, RefreshSchedule.minimumDelay)
            state.timer = clock.schedule(after: remaining, on: queue) { [weak self] in self?.renew(key) }
        }
        published.withLock { $0[key] = PublishedToken(credential: credential, usableUntil: usableUntil) }
        logger.debug("OAuth token fetched", metadata: [LogKey.expiresIn: "\(grant.expiresIn.map { "\($0)" } ?? "none")"])
        return token
    }

    /// Records a failed attempt, schedules what comes next, and returns the waiters to fail now: all of
    /// them on a permanent failure; on a transient one only `check`'s and those whose wait ends before
    /// the retry (the rest wait for it).
    private func recordFailure(_ error: CredentialError, in state: inout KeyState, key: CredentialKey, now: MonotonicInstant)
        -> [Waiter]
    {
        state.counters.tokenFetchFailed += 1
        fetchObserver?(false)
        state.consecutiveFailures += 1
        state.lastError = error
        let terminal = isPermanentFailure?(error) ?? false  // e.g. needs consent: no retry at all
        let permanent = terminal || error.kind.isPermanent
        var retryAfter = Duration.zero
        if case .transient(let asked?) = error.kind { retryAfter = min(asked, Self.maximumRetryAfter) }
        let failures = state.consecutiveFailures
        let message = "\(error.code.rawValue): \(error.detail)"
        if let token = state.token, token.isUsable(at: now) {
            // Keep serving the valid token; retry in the background (unless no retry can help).
            let delay = permanent ? Backoff.refused.delay(failures: failures, random: random())
                : max(Backoff.renewal.delay(failures: failures, random: random()), retryAfter)
            if !terminal {
                state.retryAt = now + delay
                state.timer = clock.schedule(after: delay, on: queue) { [weak self] in self?.renew(key) }
            }
            logger.warning(
                "OAuth token renewal failed; still serving the cached token",
                metadata: [LogKey.error: "\(message)", LogKey.retryIn: "\(delay)"])
            return takeWaiters(from: &state) { _ in true }
        }
        state.token = nil
        published.withLock { $0[key] = nil }
        if permanent {
            // No loop: every waiter fails now; a slow background retry may find the problem fixed.
            state.refused = true
            let delay = Backoff.refused.delay(failures: failures, random: random())
            if !terminal {
                state.retryAt = now + delay
                state.timer = clock.schedule(after: delay, on: queue) { [weak self] in self?.renew(key) }
            }
            logger.warning("OAuth token request refused", metadata: [LogKey.error: "\(message)", LogKey.retryIn: "\(terminal ? "never" : "\(delay)")"])
            return takeWaiters(from: &state) { _ in true }
        }
        state.refused = false
        let delay = max(Backoff.coldCache.delay(failures: failures, random: random()), retryAfter)
        let retryAt = now + delay
        state.retryAt = retryAt
        let failed = takeWaiters(from: &state) { $0.oneShot || $0.deadline <= retryAt }
        if !state.waiters.isEmpty {
            state.timer = clock.schedule(after: delay, on: queue) { [weak self] in self?.renew(key) }
        }
        logger.warning("OAuth token request failed", metadata: [LogKey.error: "\(message)", LogKey.retryIn: "\(delay)"])
        return failed
    }

    /// Removes and returns the waiters matching `predicate`.
    private func takeWaiters(from state: inout KeyState, where predicate: (Waiter) -> Bool) -> [Waiter] {
        var taken: [Waiter] = []
        for (id, waiter) in state.waiters where predicate(waiter) {
            taken.append(waiter)
            state.waiters[id] = nil
        }
        return taken
    }

    /// Takes a token obtained outside an attempt (the authorization-code exchange) as if an attempt
    /// had returned it: cached, published, renewal scheduled, waiters answered. On `queue`.
    func install(_ grant: TokenGrant, for key: CredentialKey, sentAt: MonotonicInstant) {
        dispatchPrecondition(condition: .onQueue(queue))
        states[key, default: KeyState()].counters.tokenRequested += 1
        finish(key, .success(grant), sentAt: sentAt, fromAttempt: false)
    }

    /// Forgets every token and timer and fails the waiting fetches with `error` (disconnect). On `queue`.
    func reset(failingWaitersWith error: CredentialError) {
        dispatchPrecondition(condition: .onQueue(queue))
        published.withLock { $0.removeAll() }
        let old = states
        states = [:]
        queuedAttempts = []
        for state in old.values {
            state.timer?.cancel()
            for waiter in state.waiters.values {
                waiter.timeout?.cancel()
                waiter.completion(.failure(error))
            }
        }
    }

    /// The renewal (or retry) timer fired: start an attempt unless one is running — or, for a key with
    /// no token after a transient failure, only when requests are waiting (otherwise the next request
    /// starts it).
    private func renew(_ key: CredentialKey) {
        guard var state = states[key], !state.inFlight else { return }
        state.timer = nil
        states[key] = state
        // A token that has just aged into its skew still gets its renewal.
        if state.token == nil, !state.refused, state.waiters.isEmpty { return }
        startAttempt(for: key)
    }
}

extension Duration {
    /// Seconds as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
