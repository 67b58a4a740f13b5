import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import Logging

// Fetching, single flight, renewal and backoff. Everything here runs on `queue`.
extension OAuthTokenManager {
    /// Serves `completion` from the cache, fails fast inside the cold backoff, or joins (or starts) the
    /// attempt in flight with a timeout. `forceAttempt` (for `check`) ignores the cache and the backoff.
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
        if !forceAttempt, !state.inFlight, let notBefore = state.notBefore, now < notBefore, let error = state.lastError {
            completion(.failure(error))
            return
        }
        nextWaiterID += 1
        let id = nextWaiterID
        let timer = clock.schedule(after: timeout, on: queue) { [weak self] in self?.waiterTimedOut(key: key, id: id, timeout: timeout) }
        state.waiters[id] = Waiter(completion: completion, timeout: timer)
        states[key] = state
        if !state.inFlight { startAttempt(for: key) }
    }

    private func waiterTimedOut(key: CredentialKey, id: UInt64, timeout: Duration) {
        guard let waiter = states[key]?.waiters.removeValue(forKey: id) else { return }
        let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        waiter.completion(.failure(CredentialError(.timeout, connection: connectionName, detail: "no token within \(ms) ms")))
    }

    /// Starts the one token request for `key` (discovering the endpoint first if needed).
    func startAttempt(for key: CredentialKey) {
        states[key, default: KeyState()].inFlight = true
        states[key]!.counters.tokenRequested += 1
        resolveTokenURL { [self] result in
            switch result {
            case .failure(let error):
                finish(key, .failure(error), sentAt: clock.now())
            case .success(let url):
                let sentAt = clock.now()
                let acquire = self.acquire ?? { [self] key, url, completion in requestClientCredentials(for: key, tokenURL: url, completion: completion) }
                acquire(key, url) { parsed in self.onQueue { self.finish(key, parsed, sentAt: sentAt) } }
            }
        }
    }

    /// The client-credentials grant (RFC 6749 §4.4.2) for `key`.
    private func requestClientCredentials(
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

    /// Records the outcome of an attempt, schedules the next renewal or retry, and answers the waiters.
    func finish(_ key: CredentialKey, _ result: Result<TokenGrant, CredentialError>, sentAt: MonotonicInstant) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard var state = states[key] else { return }
        let now = clock.now()
        state.inFlight = false
        state.timer?.cancel()
        state.timer = nil
        let outcome: Result<CachedToken, CredentialError>
        switch result {
        case .success(let grant):
            let credential = InjectedCredential(headerName: "Authorization", headerValue: SecretString(AuthScheme.bearer(grant.accessToken)))
            let expiresAt = grant.expiresIn.map { sentAt + $0 }
            let token = CachedToken(
                credential: credential, expiresAt: expiresAt,
                wallExpiresAt: expiresAt.map { clock.wallClock() + ($0 - now).seconds }, lifetime: grant.expiresIn, scope: grant.scope)
            state.token = token
            state.counters.tokenFetched += 1
            fetchObserver?(true)
            state.consecutiveFailures = 0
            state.lastError = nil
            state.notBefore = nil
            if let lifetime = grant.expiresIn {
                let delay = RefreshSchedule.renewalDelay(
                    lifetime: lifetime, configuredRefreshBefore: settings.refreshBeforeMs.map { .milliseconds($0) }, random: random())
                let remaining = max(sentAt + delay - now, .zero)
                state.timer = clock.schedule(after: remaining, on: queue) { [weak self] in self?.renew(key) }
            }
            published.withLock { $0[key] = PublishedToken(credential: credential, expiresAt: expiresAt) }
            logger.debug("OAuth token fetched", metadata: [LogKey.expiresIn: "\(grant.expiresIn.map { "\($0)" } ?? "none")"])
            outcome = .success(token)
        case .failure(let error):
            state.counters.tokenFetchFailed += 1
            fetchObserver?(false)
            state.consecutiveFailures += 1
            state.lastError = error
            let permanent = isPermanentFailure?(error) ?? false
            if let token = state.token, token.isUsable(at: now) {
                // Keep serving the valid token; retry in the background (unless no retry can help).
                let delay = Backoff.renewal.delay(failures: state.consecutiveFailures, random: random())
                if !permanent { state.timer = clock.schedule(after: delay, on: queue) { [weak self] in self?.renew(key) } }
                logger.warning(
                    "OAuth token renewal failed; still serving the cached token",
                    metadata: [LogKey.error: "\(error.code.rawValue): \(error.detail)", LogKey.retryIn: "\(delay)"])
            } else {
                state.token = nil
                published.withLock { $0[key] = nil }
                let delay = Backoff.coldCache.delay(failures: state.consecutiveFailures, random: random())
                state.notBefore = now + delay
                logger.warning("OAuth token request failed", metadata: [LogKey.error: "\(error.code.rawValue): \(error.detail)"])
            }
            outcome = .failure(error)
        }
        let waiters = state.waiters.values
        state.waiters = [:]
        states[key] = state
        for waiter in waiters {
            waiter.timeout?.cancel()
            waiter.completion(outcome)
        }
    }

    /// Takes a token obtained outside an attempt (the authorization-code exchange) as if an attempt
    /// had returned it: cached, published, renewal scheduled, waiters answered. On `queue`.
    func install(_ grant: TokenGrant, for key: CredentialKey, sentAt: MonotonicInstant) {
        dispatchPrecondition(condition: .onQueue(queue))
        states[key, default: KeyState()].counters.tokenRequested += 1
        finish(key, .success(grant), sentAt: sentAt)
    }

    /// Forgets every token and timer and fails the waiting fetches with `error` (disconnect). On `queue`.
    func reset(failingWaitersWith error: CredentialError) {
        dispatchPrecondition(condition: .onQueue(queue))
        published.withLock { $0 = [:] }
        let old = states
        states = [:]
        for state in old.values {
            state.timer?.cancel()
            for waiter in state.waiters.values {
                waiter.timeout?.cancel()
                waiter.completion(.failure(error))
            }
        }
    }

    /// The renewal (or retry) timer fired: start an attempt unless one is running.
    private func renew(_ key: CredentialKey) {
        guard let state = states[key], !state.inFlight else { return }
        startAttempt(for: key)
    }
}

extension Duration {
    /// Seconds as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
