extension OAuthTokenManager {
    /// Makes every attempt of this manager go through `exchange` (issue 15): the store first, the
    /// provider only under the lease or while the store is down. Call right after init, before the
    /// manager is shared (like `acquire`); wraps whatever grant `acquire` already does.
    public func shareTokens(through exchange: SharedTokenExchange) {
        let inner = acquire ?? { [unowned self] key, url, completion in requestClientCredentials(for: key, tokenURL: url, completion: completion) }
        acquire = { key, url, completion in
            exchange.acquire(key: key, fetch: { inner(key, url, $0) }, completion: completion)
        }
    }
}
