extension OAuthTokenManager {
    /// Makes every attempt of this manager go through `exchange` (issue 15): the store first, the
    /// provider only under the lease or while the store is down. Call right after init, before the
    /// manager is shared (like `acquire`); wraps whatever grant `acquire` already does.
    public func shareTokens(through exchange: SharedTokenExchange) {
        sharedExchange = exchange
        let inner = acquire ?? { [unowned self] key, url, completion in requestClientCredentials(for: key, tokenURL: url, completion: completion) }
        acquire = { [unowned self] key, url, completion in
            // `acquire` runs on the manager's queue (the authorization-code refresh checks it): hop back.
            exchange.acquire(key: key, fetch: { done in self.queue.async { inner(key, url, done) } }, completion: completion)
        }
    }
}
